/**
 * Batches for training and evaluation, decoded ahead with a bound.
 *
 * Training mode: seeded shuffle per epoch, then per sample (own RNG stream from seed, epoch and
 * position, so results do not depend on decode timing): optional base resize, random scale in
 * `scaleRange`, random crop to `crop` (padding when the scaled image is smaller: image pad = the
 * normalisation mean, i.e. 0 after normalising; label pad = 255), random horizontal flip. Image and
 * label share one sampling grid (image bilinear, label nearest), so they stay aligned.
 * Sequential mode: dataset order, no augmentation, whole images (optionally resized).
 *
 * At most `prefetch` batches are decoded ahead of the consumer; memory does not grow with the dataset.
 */
import { DataError, ProtosegError } from '../errors.js';
import { shardRange, type Dataset, type LoadedSample, type SampleRef } from './dataset.js';
import { resizeGrid, sampleBilinear, sampleNearest, type SampleGrid } from './image_io.js';
import { IGNORE_INDEX } from './label_maps.js';
import { Rng, hashSeed } from './rng.js';

export type Normalization = 'imagenet' | 'minus1to1';

export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

export interface Batch {
  ids: string[];
  /** [batch, height, width, 3], normalised. */
  images: Float32Array;
  /** [batch, labelHeight, labelWidth] train ids, 255 = ignore; present when labels were requested. */
  labels?: Uint8Array;
  batchSize: number;
  height: number;
  width: number;
  /** Equal to height/width except in sequential mode with labelResolution 'original'. */
  labelHeight: number;
  labelWidth: number;
  /**
   * Data-parallel train batches: the index of this batch's first image in the global batch it is a
   * shard of (rank x batchSize / worldSize); 0 or absent otherwise. Per-image randomness seeded by
   * this index plus the image's place in the shard is the same on N ranks as in one process.
   */
  shardOffset?: number;
}

/**
 * Per-image random streams of a batch: image b's stream is seeded by `parts` and its index in the
 * global batch (shardOffset + b), so a data-parallel shard draws for each image what one process that
 * holds the whole batch draws for it.
 */
export function batchImageRng(batch: Pick<Batch, 'shardOffset'>, ...parts: number[]): (image: number) => Rng {
  const offset = batch.shardOffset ?? 0;
  return (image) => new Rng(hashSeed(...parts, offset + image));
}

export interface BatchLoaderOptions {
  batchSize: number;
  normalization: Normalization;
  /** 'train' (shuffle + augmentation) or 'sequential' (evaluation). Default 'train'. */
  mode?: 'train' | 'sequential';
  seed?: number;
  /** Load labels (default: dataset.labelled). A sample without one is then a DataError. */
  labels?: boolean;
  /** Base size [height, width] every image is resized to before augmentation (e.g. the training scale). */
  resize?: [number, number];
  /** train: output [height, width] (random crop); default: the base size. */
  crop?: [number, number];
  /** train: random rescale factor range (applied on top of `resize`). Default [1, 1]. */
  scaleRange?: [number, number];
  /** train: random horizontal flip with probability 0.5. Default false. */
  flip?: boolean;
  /** train: shuffle every epoch (default true). */
  shuffle?: boolean;
  /**
   * train: draw each epoch's samples with replacement, sample i with probability sampleWeights[i]
   * (e.g. rare-class sampling) instead of a shuffle; an epoch still has as many samples as the dataset.
   */
  sampleWeights?: ArrayLike<number>;
  /** Batches decoded ahead (default 2, at least 1). */
  prefetch?: number;
  /** Drop a last incomplete batch (default: true in train mode, false in sequential mode). */
  dropLast?: boolean;
  /** sequential: labels at the image's output size (default) or at the label file's own resolution. */
  labelResolution?: 'image' | 'original';
  /**
   * Data-parallel shard: this process is rank `rank` of `worldSize`. train: `batchSize` stays the
   * global batch; each rank yields its consecutive batchSize/worldSize samples of every global batch,
   * with the order and augmentation of the single-process run (so the ranks' batches together are the
   * one-process batch). sequential: each rank reads its own contiguous part of the dataset, or with
   * `sequentialShard: 'batch'` its part of every batch (shardRange of the batch; a batch of fewer
   * images than ranks goes whole to every rank), so the ranks' batches together are the one-process batch.
   */
  shard?: { rank: number; worldSize: number };
  /** sequential mode with a shard: 'part' (default: a contiguous part of the dataset per rank) or 'batch' (a part of every batch). */
  sequentialShard?: 'part' | 'batch';
}

/** Normalises 8-bit RGB (HWC) into `out` (Float32) at `offset`. */
export function normalizeInto(src: Float32Array | Uint8Array, normalization: Normalization, out: Float32Array = new Float32Array(src.length), offset = 0): Float32Array {
  if (normalization === 'minus1to1') {
    for (let i = 0; i < src.length; i++) out[offset + i] = src[i]! / 127.5 - 1;
  } else {
    const scale = IMAGENET_STD.map((s) => 1 / (255 * s));
    const shift = IMAGENET_MEAN.map((m, c) => m / IMAGENET_STD[c]!);
    for (let i = 0; i < src.length; i += 3) {
      for (let c = 0; c < 3; c++) out[offset + i + c] = src[i + c]! * scale[c]! - shift[c]!;
    }
  }
  return out;
}

/** Inverse of normalizeInto, to 8-bit RGB (for previews and mosaics). */
export function denormalize(src: Float32Array, normalization: Normalization): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const c = i % 3;
    const v = normalization === 'minus1to1' ? (src[i]! + 1) * 127.5 : (src[i]! * IMAGENET_STD[c]! + IMAGENET_MEAN[c]!) * 255;
    out[i] = Math.max(0, Math.min(255, Math.round(v)));
  }
  return out;
}

/** Raw (0..255) pad values that normalise to 0. */
function padValues(normalization: Normalization): number[] {
  return normalization === 'minus1to1' ? [127.5, 127.5, 127.5] : IMAGENET_MEAN.map((m) => m * 255);
}

function checkSize(where: string, value: [number, number] | undefined): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => Number.isInteger(v) && v > 0)) {
    throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected ${where} as [height, width] positive integers, got ${JSON.stringify(value)}.`);
  }
}

function checkShard(shard: BatchLoaderOptions['shard'], batchSize: number, mode: 'train' | 'sequential', dropLast: boolean, samples: number): { rank: number; worldSize: number } {
  if (shard === undefined) return { rank: 0, worldSize: 1 };
  const { rank, worldSize } = shard;
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected shard {rank, worldSize} with 0 <= rank < worldSize, got ${JSON.stringify(shard)}.`);
  }
  if (mode === 'train') {
    const last = samples % batchSize;
    if (batchSize % worldSize !== 0 || (!dropLast && last !== 0 && last % worldSize !== 0)) {
      const size = batchSize % worldSize !== 0 ? batchSize : last;
      throw new ProtosegError(
        'PROTOSEG_CONFIG_INVALID',
        `data.batchSize: expected a global batch size divisible by the ${worldSize} ranks, got ${size === batchSize ? `batch size ${batchSize}` : `a last batch of ${size} of ${samples} samples`}. ` +
          `Set data.batchSize to a multiple of ${worldSize} (each rank takes batchSize/${worldSize} images of every batch), or run on a number of ranks that divides it.`,
      );
    }
  }
  return { rank, worldSize };
}

/** Running sums of `weights` divided by their total (the last is 1); one weight per sample, none negative. */
function cumulative(weights: ArrayLike<number>, samples: number): Float64Array {
  const values = Array.from(weights);
  const total = values.reduce((a, b) => a + b, 0);
  if (values.length !== samples || values.some((w) => !(w >= 0)) || !(total > 0)) {
    throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected ${samples} non-negative sample weights with a positive sum, got ${values.length} summing to ${total}.`);
  }
  let sum = 0;
  return Float64Array.from(values, (w) => (sum += w) / total);
}

export class BatchLoader {
  readonly options: Required<Omit<BatchLoaderOptions, 'resize' | 'crop' | 'shard' | 'sampleWeights'>> & Pick<BatchLoaderOptions, 'resize' | 'crop'>;
  /** Cumulative sampling probabilities (sampleWeights normalised), or undefined for a shuffle. */
  private readonly cumulativeWeights: Float64Array | undefined;
  /** This process's shard (rank 0 of 1 without one). */
  readonly shard: { rank: number; worldSize: number };

  constructor(
    readonly dataset: Dataset,
    options: BatchLoaderOptions,
  ) {
    const mode = options.mode ?? 'train';
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected batchSize >= 1, got ${options.batchSize}.`);
    }
    if (options.normalization !== 'imagenet' && options.normalization !== 'minus1to1') {
      throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected normalization "imagenet" or "minus1to1", got "${String(options.normalization)}".`);
    }
    checkSize('resize', options.resize);
    checkSize('crop', options.crop);
    const scaleRange = options.scaleRange ?? [1, 1];
    if (!(scaleRange[0] > 0 && scaleRange[1] >= scaleRange[0])) {
      throw new DataError('PROTOSEG_DATA_INVALID', `BatchLoader: expected scaleRange [low, high] with 0 < low <= high, got ${JSON.stringify(scaleRange)}.`);
    }
    this.options = {
      batchSize: options.batchSize,
      normalization: options.normalization,
      mode,
      seed: options.seed ?? 0,
      labels: options.labels ?? dataset.labelled,
      scaleRange,
      flip: options.flip ?? false,
      shuffle: options.shuffle ?? true,
      prefetch: Math.max(1, Math.floor(options.prefetch ?? 2)),
      dropLast: options.dropLast ?? mode === 'train',
      labelResolution: options.labelResolution ?? 'image',
      sequentialShard: options.sequentialShard ?? 'part',
      ...(options.resize ? { resize: options.resize } : {}),
      ...(options.crop ? { crop: options.crop } : {}),
    };
    this.cumulativeWeights = options.sampleWeights === undefined ? undefined : cumulative(options.sampleWeights, dataset.samples.length);
    this.shard = checkShard(options.shard, this.options.batchSize, mode, this.options.dropLast, dataset.samples.length);
    if (this.numBatches === 0) {
      throw new DataError(
        'PROTOSEG_DATA_INVALID',
        `BatchLoader: expected at least ${this.options.batchSize} samples for one full batch, got ${dataset.samples.length} (${dataset.kind} at ${dataset.root}). Lower the batch size or set dropLast false.`,
      );
    }
  }

  /** Batches per epoch (train: global batches, the same on every rank; sequential: of this rank's part). */
  get numBatches(): number {
    const n = this.options.mode === 'sequential' ? this.sequentialPart().length : this.dataset.samples.length;
    const b = this.options.batchSize;
    return this.options.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  }

  /** Sample order of an epoch (shuffled in train mode when shuffle is on); sequential: this rank's part. */
  epochOrder(epoch: number): number[] {
    if (this.options.mode === 'sequential') return this.sequentialPart();
    const rng = new Rng(hashSeed(this.options.seed, epoch, 0x5eed));
    const weights = this.cumulativeWeights;
    if (weights !== undefined) {
      return this.dataset.samples.map(() => {
        const u = rng.next();
        const i = weights.findIndex((w) => u < w);
        return i < 0 ? weights.length - 1 : i;
      });
    }
    const order = this.dataset.samples.map((_, i) => i);
    if (this.options.shuffle) rng.shuffle(order);
    return order;
  }

  /** Sequential mode: the dataset indices of this rank's contiguous part (all of them for one rank, or when every batch is split). */
  private sequentialPart(): number[] {
    const split = this.options.sequentialShard === 'part';
    const [start, end] = split ? shardRange(this.dataset.samples.length, this.shard.rank, this.shard.worldSize) : [0, this.dataset.samples.length];
    return Array.from({ length: end - start }, (_, i) => start + i);
  }

  /** Positions in the epoch order of the samples of batch `batchIndex` this rank loads. */
  private batchPositions(batchIndex: number, total: number): number[] {
    const b = this.options.batchSize;
    const start = batchIndex * b;
    const size = Math.min(b, total - start);
    if (this.options.mode === 'sequential') {
      const { rank, worldSize } = this.shard;
      const [from, to] = this.options.sequentialShard === 'batch' && size >= worldSize ? shardRange(size, rank, worldSize) : [0, size];
      return Array.from({ length: to - from }, (_, k) => start + from + k);
    }
    const per = size / this.shard.worldSize;
    return Array.from({ length: per }, (_, k) => start + this.shard.rank * per + k);
  }

  [Symbol.asyncIterator](): AsyncGenerator<Batch> {
    return this.epoch(0);
  }

  /**
   * Iterates the batches of one epoch, starting at batch `fromBatch` (to resume mid-epoch: the batches
   * are the same as in an uninterrupted run). Breaking out early drops the batches decoded ahead.
   */
  async *epoch(epoch = 0, fromBatch = 0): AsyncGenerator<Batch> {
    const order = this.epochOrder(epoch);
    const total = this.numBatches;
    const pending: Promise<Batch>[] = [];
    let started = Math.max(0, Math.floor(fromBatch));
    const startNext = (): void => {
      if (started >= total) return;
      const promise = this.makeBatch(order, epoch, started++);
      promise.catch(() => undefined); // surfaced when awaited; avoids unhandled rejections after a break
      pending.push(promise);
    };
    for (let i = 0; i < this.options.prefetch; i++) startNext();
    try {
      while (pending.length > 0) {
        const batch = await pending.shift()!;
        startNext();
        yield batch;
      }
    } finally {
      pending.length = 0;
    }
  }

  /** The grid of one training sample: base resize, random scale, random crop/pad, random flip. */
  trainGrid(width: number, height: number, rng: Rng): SampleGrid {
    const [baseH, baseW] = this.options.resize ?? [height, width];
    const [outH, outW] = this.options.crop ?? [baseH, baseW];
    const [lo, hi] = this.options.scaleRange;
    const s = lo === hi ? lo : rng.uniform(lo, hi);
    const scaleX = (baseW / width) * s;
    const scaleY = (baseH / height) * s;
    const scaledW = Math.round(width * scaleX);
    const scaledH = Math.round(height * scaleY);
    const offset = (scaled: number, out: number): number => (scaled >= out ? rng.int(scaled - out + 1) : -rng.int(out - scaled + 1));
    const offsetX = offset(scaledW, outW);
    const offsetY = offset(scaledH, outH);
    const flip = this.options.flip && rng.next() < 0.5;
    return { outWidth: outW, outHeight: outH, scaleX, scaleY, offsetX, offsetY, flip };
  }

  private async makeBatch(order: number[], epoch: number, batchIndex: number): Promise<Batch> {
    const { mode, normalization, labels: withLabels } = this.options;
    const positions = this.batchPositions(batchIndex, order.length);
    const samples = positions.map((p) => this.dataset.samples[order[p]!]!);
    const loaded = await Promise.all(samples.map((s) => this.dataset.load(s, { label: withLabels })));
    // Each sample's augmentation depends on its position in the global order only (not on the rank).
    const items = loaded.map((sample, k) => this.transform(sample, samples[k]!, mode === 'train' ? new Rng(hashSeed(this.options.seed, epoch, positions[k]!)) : undefined));
    const first = items[0]!;
    for (const item of items) {
      if (item.width !== first.width || item.height !== first.height || item.labelWidth !== first.labelWidth || item.labelHeight !== first.labelHeight) {
        throw new DataError(
          'PROTOSEG_DATA_INVALID',
          `BatchLoader: expected samples of one size in a batch, got ${first.width}x${first.height} ("${first.id}") and ${item.width}x${item.height} ("${item.id}"). Set a resize or crop size, or use batchSize 1.`,
        );
      }
    }
    const pixels = first.width * first.height;
    const images = new Float32Array(items.length * pixels * 3);
    const labelPixels = first.labelWidth * first.labelHeight;
    const labels = withLabels ? new Uint8Array(items.length * labelPixels) : undefined;
    items.forEach((item, k) => {
      normalizeInto(item.image, normalization, images, k * pixels * 3);
      if (labels !== undefined && item.label !== undefined) labels.set(item.label, k * labelPixels);
    });
    const batch: Batch = {
      ids: items.map((i) => i.id),
      images,
      batchSize: items.length,
      height: first.height,
      width: first.width,
      labelHeight: first.labelHeight,
      labelWidth: first.labelWidth,
      shardOffset: positions[0]! - batchIndex * this.options.batchSize,
    };
    if (labels !== undefined) batch.labels = labels;
    return batch;
  }

  private transform(
    sample: LoadedSample,
    ref: SampleRef,
    rng: Rng | undefined,
  ): { id: string; image: Float32Array | Uint8Array; label: Uint8Array | undefined; width: number; height: number; labelWidth: number; labelHeight: number } {
    const { width, height } = sample;
    let grid: SampleGrid | undefined;
    if (rng !== undefined) grid = this.trainGrid(width, height, rng);
    else if (this.options.resize !== undefined) {
      const [h, w] = this.options.resize;
      if (h !== height || w !== width) grid = resizeGrid(width, height, w, h);
    }
    if (sample.label === undefined && this.options.labels) {
      throw new DataError('PROTOSEG_DATA_INVALID', `${ref.imagePath}: expected a label for sample "${ref.id}", got none.`, ref.imagePath);
    }
    if (grid === undefined) {
      return { id: sample.id, image: sample.image, label: sample.label, width, height, labelWidth: width, labelHeight: height };
    }
    const image = sampleBilinear(sample.image, width, height, 3, grid, padValues(this.options.normalization));
    const keepOriginal = rng === undefined && this.options.labelResolution === 'original';
    const label = sample.label === undefined ? undefined : keepOriginal ? sample.label : sampleNearest(sample.label, width, height, grid, IGNORE_INDEX);
    return {
      id: sample.id,
      image,
      label,
      width: grid.outWidth,
      height: grid.outHeight,
      labelWidth: keepOriginal ? width : grid.outWidth,
      labelHeight: keepOriginal ? height : grid.outHeight,
    };
  }
}
