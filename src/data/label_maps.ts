/**
 * The Cityscapes label table: the only place raw label ids map to the 19 train ids (ignore = 255).
 * Source: cityscapesScripts labels.py (algorithm.md g.3). GTA5 label PNGs use the same ids.
 */

export const NUM_CLASSES = 19;
export const IGNORE_INDEX = 255;

export interface ClassInfo {
  trainId: number;
  id: number;
  name: string;
  category: string;
  color: readonly [number, number, number];
}

export const CLASSES: readonly ClassInfo[] = [
  { trainId: 0, id: 7, name: 'road', category: 'flat', color: [128, 64, 128] },
  { trainId: 1, id: 8, name: 'sidewalk', category: 'flat', color: [244, 35, 232] },
  { trainId: 2, id: 11, name: 'building', category: 'construction', color: [70, 70, 70] },
  { trainId: 3, id: 12, name: 'wall', category: 'construction', color: [102, 102, 156] },
  { trainId: 4, id: 13, name: 'fence', category: 'construction', color: [190, 153, 153] },
  { trainId: 5, id: 17, name: 'pole', category: 'object', color: [153, 153, 153] },
  { trainId: 6, id: 19, name: 'traffic light', category: 'object', color: [250, 170, 30] },
  { trainId: 7, id: 20, name: 'traffic sign', category: 'object', color: [220, 220, 0] },
  { trainId: 8, id: 21, name: 'vegetation', category: 'nature', color: [107, 142, 35] },
  { trainId: 9, id: 22, name: 'terrain', category: 'nature', color: [152, 251, 152] },
  { trainId: 10, id: 23, name: 'sky', category: 'sky', color: [70, 130, 180] },
  { trainId: 11, id: 24, name: 'person', category: 'human', color: [220, 20, 60] },
  { trainId: 12, id: 25, name: 'rider', category: 'human', color: [255, 0, 0] },
  { trainId: 13, id: 26, name: 'car', category: 'vehicle', color: [0, 0, 142] },
  { trainId: 14, id: 27, name: 'truck', category: 'vehicle', color: [0, 0, 70] },
  { trainId: 15, id: 28, name: 'bus', category: 'vehicle', color: [0, 60, 100] },
  { trainId: 16, id: 31, name: 'train', category: 'vehicle', color: [0, 80, 100] },
  { trainId: 17, id: 32, name: 'motorcycle', category: 'vehicle', color: [0, 0, 230] },
  { trainId: 18, id: 33, name: 'bicycle', category: 'vehicle', color: [119, 11, 32] },
];

export const CLASS_NAMES: readonly string[] = CLASSES.map((c) => c.name);

/**
 * Cityscapes ids that exist in labels.py but are ignored in evaluation (trainId 255).
 * Any id outside 0..33 is unknown (e.g. 34, or lane-line ids of some forks) and also maps to 255.
 */
export const IGNORED_IDS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30];

/** Highest id defined by the official table (license plate, -1, is never stored in a PNG). */
export const MAX_KNOWN_ID = 33;

/** id -> trainId lookup over all 256 byte values; everything not in the table is 255. */
export const ID_TO_TRAIN_ID: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(IGNORE_INDEX);
  for (const c of CLASSES) table[c.id] = c.trainId;
  return table;
})();

/** trainId -> id (255 -> 0, "unlabeled"). */
export const TRAIN_ID_TO_ID: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(0);
  for (const c of CLASSES) table[c.trainId] = c.id;
  return table;
})();

/** True for ids 0..33 (those the table knows, mapped or ignored). */
export function isKnownId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= MAX_KNOWN_ID;
}

/** Maps a buffer of Cityscapes ids to trainIds in place-free fashion (returns a new array). */
export function idsToTrainIds(ids: Uint8Array): Uint8Array {
  const out = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ID_TO_TRAIN_ID[ids[i]!]!;
  return out;
}

/** trainIds -> interleaved RGB using the Cityscapes palette (ignore -> black). */
export function trainIdsToColor(trainIds: Uint8Array): Uint8Array {
  const out = new Uint8Array(trainIds.length * 3);
  for (let i = 0; i < trainIds.length; i++) {
    const c = CLASSES[trainIds[i]!];
    if (c === undefined) continue;
    out[3 * i] = c.color[0];
    out[3 * i + 1] = c.color[1];
    out[3 * i + 2] = c.color[2];
  }
  return out;
}

/** The 256-entry RGB palette GTA5 label PNGs use: palette index = Cityscapes id. */
export function cityscapesIdPalette(): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (const c of CLASSES) palette.set(c.color, c.id * 3);
  return palette;
}
