/**
 * Memory bank of one domain (algorithm.md a.3, c.1): fixed slots j = (image i, class c), so a region
 * whose label changes between epochs never needs re-indexing. Everything lives in typed arrays outside
 * the tensor heap.
 *
 * Bytes per slot: 4*dims (vector, float32) + 4 (confidence, float32) + 2 (plabel, int16) + 1 (valid)
 * + 1 (written) = 4*dims + 8; plus 1 byte per image (labelled flag). At dims 512 that is 2,056 B per
 * slot: GTA5 train (12,403 x 19 slots) ~ 0.48 GB, Cityscapes train (2,975 x 19) ~ 0.12 GB.
 */
import { ProtosegError } from '../errors.js';

export interface MemoryBankOptions {
  /** Training images of the domain (N). */
  images: number;
  /** Classes per image (K, 19 for Cityscapes train ids). */
  classes: number;
  /** Embedding size (D). */
  dims: number;
  /** Images with ground-truth labels, by dataset index: their slots are pseudo-labelled by definition. */
  labelledImages?: Iterable<number>;
  /** Instance confidence a slot needs for plabel = c (default 0.95). */
  threshold?: number;
  /** Momentum of unlabelled slots (default 0.5). */
  momentum?: number;
  /** Momentum of slots of labelled images (default 0.9). */
  labelledMomentum?: number;
}

export interface UpdateOptions {
  /**
   * One momentum for every row. Default: per row, `labelledMomentum` for slots of labelled images and
   * `momentum` otherwise, so a labelled slot visited by two loaders is never averaged at two rates.
   */
  momentum?: number;
  /** Instance confidences [rows]; stored and used by the pseudo-label refresh of the updated slots. */
  confidence?: Float32Array;
}

/** The instances of one batch, as computed by regions.computeInstances and read back to data. */
export interface BankBatch {
  /** Dataset index of every image of the batch, [batch]. */
  datasetIndex: ArrayLike<number>;
  /** Batch-local image index of each instance, [instances]. */
  imageIndex: Int32Array;
  /** Class of each instance, [instances]. */
  classId: Int32Array;
  /** Instance confidence, [instances]. */
  confidence: Float32Array;
  /** Instance embeddings, [instances * dims] row-major. */
  vectors: Float32Array;
}

export interface ValidRows {
  /** Copies of the valid slot vectors, [rows * dims]. */
  rows: Float32Array;
  /** Slot index j = i*classes + c of each row. */
  slotIndex: Int32Array;
  /** Image index i of each row. */
  imageIndex: Int32Array;
  /** Slot class c of each row. */
  classId: Int32Array;
  /** Pseudo-label of each row (-1 or c). */
  plabel: Int16Array;
}

export interface ClassCounts {
  /** Valid slots per class, [classes]. */
  valid: Int32Array;
  /** Valid slots with plabel = c per class, [classes]. */
  pseudoLabelled: Int32Array;
  /** Valid slots of labelled images per class, [classes]. */
  labelled: Int32Array;
}

/** Plain-data state for checkpoints (arrays go into the checkpoint's array table). */
export interface MemoryBankState {
  meta: { images: number; classes: number; dims: number; threshold: number; momentum: number; labelledMomentum: number };
  arrays: {
    vectors: Float32Array;
    confidence: Float32Array;
    plabel: Int16Array;
    valid: Uint8Array;
    written: Uint8Array;
    labelled: Uint8Array;
  };
}

function bankError(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `MemoryBank: ${message}`);
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw bankError(`expected ${name} to be a positive integer, got ${String(value)}.`);
}

function checkProbability(name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw bankError(`expected ${name} in [0, 1], got ${String(value)}.`);
}

export class MemoryBank {
  readonly images: number;
  readonly classes: number;
  readonly dims: number;
  threshold: number;
  readonly momentum: number;
  readonly labelledMomentum: number;
  /** Slot vectors, unit rows, [images * classes * dims]. */
  readonly vectors: Float32Array;
  /** Last instance confidence of each slot, [images * classes]. */
  readonly confidence: Float32Array;
  /** -1 or c, [images * classes]. */
  readonly plabel: Int16Array;
  /** 1 when the class is present in the image's latest labels, [images * classes]. */
  readonly valid: Uint8Array;
  /** 1 once a slot has held a vector (the next write is a momentum update), [images * classes]. */
  readonly written: Uint8Array;
  /** 1 for images with ground truth, [images]. */
  readonly labelled: Uint8Array;

  constructor(options: MemoryBankOptions) {
    checkCount('images', options.images);
    checkCount('classes', options.classes);
    checkCount('dims', options.dims);
    if (options.classes > 32767) throw bankError(`expected at most 32767 classes (plabel is int16), got ${options.classes}.`);
    this.images = options.images;
    this.classes = options.classes;
    this.dims = options.dims;
    this.threshold = options.threshold ?? 0.95;
    this.momentum = options.momentum ?? 0.5;
    this.labelledMomentum = options.labelledMomentum ?? 0.9;
    checkProbability('threshold', this.threshold);
    checkProbability('momentum', this.momentum);
    checkProbability('labelledMomentum', this.labelledMomentum);
    const slots = this.images * this.classes;
    this.vectors = new Float32Array(slots * this.dims);
    this.confidence = new Float32Array(slots);
    this.plabel = new Int16Array(slots).fill(-1);
    this.valid = new Uint8Array(slots);
    this.written = new Uint8Array(slots);
    this.labelled = new Uint8Array(this.images);
    for (const i of options.labelledImages ?? []) {
      this.checkImage(i);
      this.labelled[i] = 1;
    }
  }

  /** Bytes held by the typed arrays. */
  get byteLength(): number {
    return this.vectors.byteLength + this.confidence.byteLength + this.plabel.byteLength + this.valid.byteLength + this.written.byteLength + this.labelled.byteLength;
  }

  slot(imageIndex: number, classId: number): number {
    return imageIndex * this.classes + classId;
  }

  private checkImage(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.images) throw bankError(`expected an image index in 0..${this.images - 1}, got ${String(i)}.`);
  }

  private checkClass(c: number): void {
    if (!Number.isInteger(c) || c < 0 || c >= this.classes) throw bankError(`expected a class id in 0..${this.classes - 1}, got ${String(c)}.`);
  }

  /**
   * Momentum update of slots (imageIndex[r], classId[r]) with rows of `vectors` [rows * dims]:
   * v <- normalize(m v + (1 - m) normalize(f)); a slot written for the first time gets normalize(f).
   * Updated slots become valid; their pseudo-labels are refreshed.
   */
  update(imageIndex: ArrayLike<number>, classId: ArrayLike<number>, vectors: Float32Array, options: UpdateOptions = {}): void {
    const rows = imageIndex.length;
    const D = this.dims;
    if (classId.length !== rows || vectors.length !== rows * D) {
      throw bankError(`update expected classId of ${rows} entries and vectors of ${rows}*${D} = ${rows * D} values, got ${classId.length} and ${vectors.length}.`);
    }
    if (options.confidence !== undefined && options.confidence.length !== rows) {
      throw bankError(`update expected ${rows} confidences, got ${options.confidence.length}.`);
    }
    if (options.momentum !== undefined) checkProbability('momentum', options.momentum);
    for (let r = 0; r < rows; r++) {
      const i = imageIndex[r]!;
      const c = classId[r]!;
      this.checkImage(i);
      this.checkClass(c);
      const j = this.slot(i, c);
      const m = this.written[j] ? (options.momentum ?? (this.labelled[i] ? this.labelledMomentum : this.momentum)) : 0;
      const base = j * D;
      const source = r * D;
      let fNorm = 0;
      for (let d = 0; d < D; d++) fNorm += vectors[source + d]! * vectors[source + d]!;
      const fScale = fNorm > 0 ? (1 - m) / Math.sqrt(fNorm) : 0;
      let vNorm = 0;
      for (let d = 0; d < D; d++) {
        const v = m * this.vectors[base + d]! + fScale * vectors[source + d]!;
        this.vectors[base + d] = v;
        vNorm += v * v;
      }
      const vScale = vNorm > 0 ? 1 / Math.sqrt(vNorm) : 0;
      for (let d = 0; d < D; d++) this.vectors[base + d] = this.vectors[base + d]! * vScale;
      this.written[j] = 1;
      this.valid[j] = 1;
      if (options.confidence !== undefined) this.confidence[j] = options.confidence[r]!;
      this.refreshSlot(j);
    }
  }

  /** Marks the slots of image i valid for `classes` and invalid (plabel -1) for every other class. */
  markPresent(imageIndex: number, classes: Iterable<number>): void {
    this.checkImage(imageIndex);
    const present = new Uint8Array(this.classes);
    for (const c of classes) {
      this.checkClass(c);
      present[c] = 1;
    }
    for (let c = 0; c < this.classes; c++) {
      const j = this.slot(imageIndex, c);
      if (present[c]) {
        if (!this.written[j]) throw bankError(`markPresent: slot (image ${imageIndex}, class ${c}) has never been written; update it first.`);
        this.valid[j] = 1;
      } else {
        this.valid[j] = 0;
      }
      this.refreshSlot(j);
    }
  }

  /**
   * One visit of a batch: for every image of the batch the classes without an instance become invalid,
   * the instances are written (momentum update), and their pseudo-labels refreshed.
   */
  visit(batch: BankBatch, options: { momentum?: number } = {}): void {
    const { datasetIndex, imageIndex, classId, confidence, vectors } = batch;
    if (imageIndex.length !== classId.length || confidence.length !== classId.length) {
      throw bankError(`visit expected imageIndex, classId and confidence of equal length, got ${imageIndex.length}, ${classId.length}, ${confidence.length}.`);
    }
    const rowsImage = new Int32Array(imageIndex.length);
    for (let r = 0; r < imageIndex.length; r++) {
      const b = imageIndex[r]!;
      if (!(b >= 0 && b < datasetIndex.length)) throw bankError(`visit: instance ${r} refers to batch image ${b}, but the batch has ${datasetIndex.length} images.`);
      rowsImage[r] = datasetIndex[b]!;
    }
    this.update(rowsImage, classId, vectors, { momentum: options.momentum, confidence });
    for (let b = 0; b < datasetIndex.length; b++) {
      const present: number[] = [];
      for (let r = 0; r < imageIndex.length; r++) if (imageIndex[r] === b) present.push(classId[r]!);
      this.markPresent(datasetIndex[b]!, present);
    }
  }

  /** Forgets every slot (start of an initialisation pass). Labelled flags are kept. */
  clear(): void {
    this.vectors.fill(0);
    this.confidence.fill(0);
    this.plabel.fill(-1);
    this.valid.fill(0);
    this.written.fill(0);
  }

  /**
   * Initialises the bank from a streamed no-grad pass: clears it, then writes each batch as its first
   * visit. The caller's iterable produces one batch at a time (compute instances in tf.tidy, read them
   * back, dispose), so memory stays at the bank plus one batch. Returns the number of images seen.
   */
  async initFromPass(batches: AsyncIterable<BankBatch> | Iterable<BankBatch>): Promise<number> {
    this.clear();
    let seen = 0;
    for await (const batch of batches) {
      this.visit(batch, { momentum: 0 });
      seen += batch.datasetIndex.length;
    }
    return seen;
  }

  private refreshSlot(j: number): void {
    const i = Math.floor(j / this.classes);
    const c = j - i * this.classes;
    this.plabel[j] = this.valid[j] && (this.labelled[i] || this.confidence[j]! >= this.threshold) ? c : -1;
  }

  /** Recomputes every pseudo-label (after a threshold change or a state load). */
  refreshPseudoLabels(threshold: number = this.threshold): void {
    checkProbability('threshold', threshold);
    this.threshold = threshold;
    for (let j = 0; j < this.plabel.length; j++) this.refreshSlot(j);
  }

  /** Number of valid slots. */
  validCount(): number {
    let n = 0;
    for (let j = 0; j < this.valid.length; j++) n += this.valid[j]!;
    return n;
  }

  /** Copies of the valid slots, in slot order (input of k-means and of the prototypes). */
  validRows(): ValidRows {
    const n = this.validCount();
    const D = this.dims;
    const rows = new Float32Array(n * D);
    const slotIndex = new Int32Array(n);
    const imageIndex = new Int32Array(n);
    const classId = new Int32Array(n);
    const plabel = new Int16Array(n);
    let r = 0;
    for (let j = 0; j < this.valid.length; j++) {
      if (!this.valid[j]) continue;
      rows.set(this.vectors.subarray(j * D, (j + 1) * D), r * D);
      slotIndex[r] = j;
      imageIndex[r] = Math.floor(j / this.classes);
      classId[r] = j % this.classes;
      plabel[r] = this.plabel[j]!;
      r++;
    }
    return { rows, slotIndex, imageIndex, classId, plabel };
  }

  /** Per-class instance counts over valid slots (logged every epoch). */
  classCounts(): ClassCounts {
    const valid = new Int32Array(this.classes);
    const pseudoLabelled = new Int32Array(this.classes);
    const labelled = new Int32Array(this.classes);
    for (let j = 0; j < this.valid.length; j++) {
      if (!this.valid[j]) continue;
      const i = Math.floor(j / this.classes);
      const c = j - i * this.classes;
      valid[c]!++;
      if (this.plabel[j]! >= 0) pseudoLabelled[c]!++;
      if (this.labelled[i]) labelled[c]!++;
    }
    return { valid, pseudoLabelled, labelled };
  }

  /** The state for a checkpoint; the arrays are the bank's own (not copies). */
  toState(): MemoryBankState {
    return {
      meta: { images: this.images, classes: this.classes, dims: this.dims, threshold: this.threshold, momentum: this.momentum, labelledMomentum: this.labelledMomentum },
      arrays: { vectors: this.vectors, confidence: this.confidence, plabel: this.plabel, valid: this.valid, written: this.written, labelled: this.labelled },
    };
  }

  /** Rebuilds a bank from `toState()` output (copies the arrays), checking every length. */
  static fromState(state: MemoryBankState): MemoryBank {
    const { meta, arrays } = state;
    const bank = new MemoryBank({ images: meta.images, classes: meta.classes, dims: meta.dims, threshold: meta.threshold, momentum: meta.momentum, labelledMomentum: meta.labelledMomentum });
    const expect = (name: keyof MemoryBankState['arrays'], target: { length: number; set(a: ArrayLike<number>): void }, type: string): void => {
      const a = arrays[name] as unknown;
      if (!ArrayBuffer.isView(a) || a.constructor.name !== type || (a as unknown as ArrayLike<number>).length !== target.length) {
        throw new ProtosegError(
          'PROTOSEG_CHECKPOINT_INVALID',
          `MemoryBank.fromState: expected ${name} as ${type} of ${target.length} elements for ${meta.images}x${meta.classes}x${meta.dims}, got ${ArrayBuffer.isView(a) ? `${a.constructor.name} of ${(a as unknown as ArrayLike<number>).length}` : typeof a}. The checkpoint does not match this bank; start from a fresh bank.`,
        );
      }
      target.set(a as unknown as ArrayLike<number>);
    };
    expect('vectors', bank.vectors, 'Float32Array');
    expect('confidence', bank.confidence, 'Float32Array');
    expect('plabel', bank.plabel, 'Int16Array');
    expect('valid', bank.valid, 'Uint8Array');
    expect('written', bank.written, 'Uint8Array');
    expect('labelled', bank.labelled, 'Uint8Array');
    return bank;
  }
}
