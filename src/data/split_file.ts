/**
 * List files: one sample id per line; blank lines and '#' comments (whole-line or trailing) are ignored.
 * Used for few-shot labelled subsets and GTA5 split lists.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { DataError } from '../errors.js';
import { isFile } from './dataset.js';

/** Parses list-file text into ids, in file order, without duplicates. */
export function parseSplitList(text: string): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const hash = line.indexOf('#');
    const entry = (hash >= 0 ? line.slice(0, hash) : line).trim();
    if (entry === '' || seen.has(entry)) continue;
    seen.add(entry);
    ids.push(entry);
  }
  return ids;
}

/** Reads a list file; a missing file is a DataError naming it. */
export async function readSplitFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataError('PROTOSEG_DATASET_NOT_FOUND', `${file}: expected a split list file (one sample id per line), got no such file. Check the path, or write one with "protoseg" few-shot selection.`, file);
    }
    throw new DataError('PROTOSEG_DATA_INVALID', `${file}: could not read the split list (${(error as Error).message}).`, file);
  }
  return parseSplitList(text);
}

/** Writes ids one per line, after optional '#' comment lines; creates the folder. */
export async function writeSplitFile(file: string, ids: readonly string[], comments: readonly string[] = []): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const header = comments.map((c) => `# ${c}`);
  await writeFile(file, [...header, ...ids].join('\n') + '\n');
}

/**
 * Normalises a list entry to a sample id: "00001", "00001.png" and "images/00001.png" all give "00001"
 * (GTA5 and folder ids are file names without extension).
 */
export function entryToFileId(entry: string): string {
  const name = basename(entry.replace(/\\/g, '/'));
  return extname(name) !== '' ? name.slice(0, -extname(name).length) : name;
}

/** The split name meaning "every pair present" (gta5 and folder layouts), unless a list file has that name. */
export const ALL_SPLIT = 'all';

/** Where a split NAME's list is looked for, in order: {root}/splits/NAME.txt, {root}/NAME.txt (as many UDA repositories ship them). */
export function splitListCandidates(root: string, name: string): string[] {
  return [join(root, 'splits', `${name}.txt`), join(root, `${name}.txt`), ...(name.endsWith('.txt') ? [join(root, 'splits', name), join(root, name)] : [])];
}

/** The list file of a split name in the usual places, or undefined when there is none. */
export async function findSplitList(root: string, name: string): Promise<string | undefined> {
  for (const candidate of splitListCandidates(root, name)) if (await isFile(candidate)) return candidate;
  return undefined;
}

/**
 * Resolves a split argument. A name ("train", "train.txt") is looked up as {root}/splits/NAME.txt, then
 * {root}/NAME.txt (splitListCandidates), then as a file in the working directory; a path (with a
 * separator) is taken as given (relative: to the working directory, then to the root; config files
 * make theirs absolute against the config file). Returns undefined for no split, and for "all" when no
 * list of that name exists (every pair). A split that names no existing file is a DataError.
 */
export async function resolveSplitFile(root: string, split: string | undefined, where: string): Promise<string | undefined> {
  if (split === undefined || split === '') return undefined;
  const isPath = split.includes('/') || split.includes('\\');
  const candidates = isAbsolute(split) ? [split] : isPath ? [resolve(split), join(root, split)] : [...splitListCandidates(root, split), resolve(split)];
  for (const candidate of candidates) if (await isFile(candidate)) return candidate;
  if (split === ALL_SPLIT) return undefined;
  throw new DataError(
    'PROTOSEG_DATASET_NOT_FOUND',
    `${where}: expected split "${split}" to be a list file, got no file at ${candidates.join(' or ')}. Pass a split name with a list file in one of those places, a path to a list file, or "${ALL_SPLIT}" to use every pair.`,
    candidates[0],
  );
}
