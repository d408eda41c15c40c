import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataError, ProtosegError } from '../errors.js';
import { BatchLoader, batchImageRng, denormalize, normalizeInto, type Batch } from './batch_loader.js';
import { shardSamples, type Dataset, type LoadOptions, type SampleRef } from './dataset.js';
import { Gta5Dataset } from './gta5.js';
import { buildGta5Tree, makeTempDir, removeTempDir } from '../test_utils/fixtures.js';

let dir = '';
let dataset: Gta5Dataset;
before(async () => {
  dir = await makeTempDir();
  await buildGta5Tree(join(dir, 'gta5'), 7, { width: 24, height: 16, block: 4 });
  dataset = await Gta5Dataset.open({ root: join(dir, 'gta5') });
});
after(async () => {
  await removeTempDir(dir);
});

async function collect(iterable: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of iterable) out.push(b);
  return out;
}

/** Per-pixel: does the image's red channel (10 * trainId + 5 in blockScene) agree with the label? */
function agreement(batch: Batch): { agree: number; labelled: number } {
  const red = denormalize(batch.images, 'minus1to1');
  let agree = 0, labelled = 0;
  for (let i = 0; i < batch.labels!.length; i++) {
    const l = batch.labels![i]!;
    if (l === 255) continue;
    labelled++;
    if (red[3 * i] === l * 10 + 5) agree++;
  }
  return { agree, labelled };
}

describe('BatchLoader train mode', () => {
  test('shapes, count, dropLast', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', crop: [8, 12], seed: 1 });
    assert.equal(loader.numBatches, 3);
    const batches = await collect(loader);
    assert.equal(batches.length, 3);
    for (const b of batches) {
      assert.deepEqual([b.batchSize, b.height, b.width], [2, 8, 12]);
      assert.equal(b.images.length, 2 * 8 * 12 * 3);
      assert.equal(b.labels!.length, 2 * 8 * 12);
      assert.equal(b.ids.length, 2);
    }
    assert.equal(new Set(batches.flatMap((b) => b.ids)).size, 6);
  });

  test('deterministic for a seed; seed and epoch change order and augmentation', async () => {
    const options = { batchSize: 3, normalization: 'minus1to1' as const, crop: [8, 8] as [number, number], scaleRange: [0.75, 1.5] as [number, number], flip: true };
    const a = await collect(new BatchLoader(dataset, { ...options, seed: 3 }).epoch(0));
    const b = await collect(new BatchLoader(dataset, { ...options, seed: 3, prefetch: 1 }).epoch(0));
    assert.deepEqual(a.map((x) => x.ids), b.map((x) => x.ids));
    assert.deepEqual(a.map((x) => Array.from(x.images)), b.map((x) => Array.from(x.images)));
    assert.deepEqual(a.map((x) => Array.from(x.labels!)), b.map((x) => Array.from(x.labels!)));
    const c = await collect(new BatchLoader(dataset, { ...options, seed: 4 }).epoch(0));
    assert.notDeepEqual(a.map((x) => Array.from(x.images)), c.map((x) => Array.from(x.images)));
    const loader = new BatchLoader(dataset, { ...options, seed: 3 });
    assert.notDeepEqual(loader.epochOrder(0), loader.epochOrder(1));
  });

  test('sampleWeights: epochs drawn with replacement at the weights, deterministic for a seed and epoch', () => {
    const weights = [0, 1, 0, 3, 0, 0, 0];
    const loader = new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', seed: 5, sampleWeights: weights });
    assert.deepEqual(loader.epochOrder(4), new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', seed: 5, sampleWeights: weights }).epochOrder(4));
    const drawn = Array.from({ length: 200 }, (_, e) => loader.epochOrder(e)).flat();
    assert.equal(drawn.length, 200 * 7);
    assert.deepEqual([...new Set(drawn)].sort(), [1, 3]);
    const share = drawn.filter((i) => i === 3).length / drawn.length;
    assert.ok(Math.abs(share - 0.75) < 0.03, `share of sample 3: ${share}`);
    assert.throws(() => new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', sampleWeights: [1, 2] }), (e) => e instanceof DataError && /7 non-negative sample weights/.test(e.message));
    assert.throws(() => new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', sampleWeights: [0, 0, 0, 0, 0, 0, 0] }), DataError);
  });

  test('resuming at a batch index yields the same batches', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', crop: [8, 8], flip: true, seed: 9 });
    const full = await collect(loader.epoch(2));
    const resumed = await collect(loader.epoch(2, 1));
    assert.equal(resumed.length, 2);
    assert.deepEqual(resumed.map((b) => b.ids), full.slice(1).map((b) => b.ids));
    assert.deepEqual(Array.from(resumed[0]!.images), Array.from(full[1]!.images));
  });

  test('crop + flip at scale 1 keep image and label exactly aligned, and flips happen', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 1, normalization: 'minus1to1', crop: [10, 10], flip: true, seed: 0, dropLast: false });
    let flipped = 0;
    for await (const b of loader) {
      const { agree, labelled } = agreement(b);
      assert.equal(labelled, 100);
      assert.equal(agree, labelled, `sample ${b.ids[0]}`);
      // blockScene green = 7 * x: decreasing along a row means the crop was mirrored.
      const rgb = denormalize(b.images, 'minus1to1');
      if (rgb[1]! > rgb[4]!) flipped++;
    }
    assert.ok(flipped > 0 && flipped < 7, `flipped ${flipped} of 7`);
  });

  test('random upscaling keeps image and label aligned except at block borders', async () => {
    const root = join(dir, 'big_blocks');
    await buildGta5Tree(root, 4, { width: 48, height: 32, block: 8 });
    const big = await Gta5Dataset.open({ root });
    const loader = new BatchLoader(big, { batchSize: 2, normalization: 'minus1to1', crop: [24, 24], scaleRange: [1, 2], flip: true, seed: 2 });
    let agreeAll = 0, labelledAll = 0;
    for await (const b of loader) {
      const { agree, labelled } = agreement(b);
      agreeAll += agree;
      labelledAll += labelled;
    }
    assert.equal(labelledAll, 4 * 24 * 24);
    // Bilinear mixes colours within about one source pixel of a border: about 1/8 of each axis here.
    assert.ok(agreeAll / labelledAll > 0.7, `agreement ${agreeAll}/${labelledAll}`);
  });

  test('downscaling below the crop size pads: label 255, image 0 after normalisation', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 1, normalization: 'imagenet', crop: [16, 24], scaleRange: [0.4, 0.5], seed: 5 });
    for await (const b of loader) {
      let padded = 0;
      for (let i = 0; i < b.labels!.length; i++) {
        if (b.labels![i] !== 255) continue;
        padded++;
        assert.deepEqual([b.images[3 * i], b.images[3 * i + 1], b.images[3 * i + 2]].map((v) => Math.abs(v!) < 1e-5), [true, true, true]);
      }
      // At most half of each axis is covered by the image.
      assert.ok(padded >= 16 * 24 - 8 * 12, `padded ${padded}`);
    }
  });

  test('prefetch is bounded: at most `prefetch` batches are decoded ahead of the consumer', async () => {
    let started = 0;
    const counting: Dataset = {
      ...dataset,
      kind: dataset.kind,
      root: dataset.root,
      split: dataset.split,
      samples: dataset.samples,
      labelled: true,
      labelEncoding: 'ids',
      load: (s: SampleRef, o?: LoadOptions) => {
        started++;
        return dataset.load(s, o);
      },
    };
    const loader = new BatchLoader(counting, { batchSize: 1, normalization: 'imagenet', prefetch: 2, seed: 0 });
    const it = loader.epoch(0);
    await it.next();
    await new Promise((r) => setTimeout(r, 50)); // let any eager producer run ahead
    assert.equal(started, 3); // the consumed batch + 2 ahead
    await it.next();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(started, 4);
    await it.return(undefined);
  });

  test('mixed sizes without crop or resize are a DataError that suggests the fix', async () => {
    const root = join(dir, 'mixed');
    await buildGta5Tree(root, 1, { width: 8, height: 4 });
    const other = join(dir, 'mixed2');
    await buildGta5Tree(other, 2, { width: 12, height: 4 });
    const a = await Gta5Dataset.open({ root });
    const b = await Gta5Dataset.open({ root: other });
    const mixed: Dataset = { ...a, kind: 'gta5', root, split: undefined, labelled: true, labelEncoding: 'ids', samples: [a.samples[0]!, { ...b.samples[1]!, id: 'x' }], load: (s, o) => (s.id === 'x' ? b.load(b.samples[1]!, o) : a.load(s, o)) };
    const loader = new BatchLoader(mixed, { batchSize: 2, normalization: 'imagenet', mode: 'sequential' });
    await assert.rejects(collect(loader), (e: unknown) => e instanceof DataError && /batchSize 1/.test(e.message));
    const resized = await collect(new BatchLoader(mixed, { batchSize: 2, normalization: 'imagenet', mode: 'sequential', resize: [4, 8] }));
    assert.deepEqual([resized[0]!.height, resized[0]!.width], [4, 8]);
  });
});

describe('BatchLoader sequential mode', () => {
  test('dataset order, whole images, no augmentation, last partial batch kept', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 3, normalization: 'minus1to1', mode: 'sequential', flip: true, scaleRange: [0.5, 2] });
    const batches = await collect(loader);
    assert.deepEqual(batches.map((b) => b.ids), [['00001', '00002', '00003'], ['00004', '00005', '00006'], ['00007']]);
    const sample = await dataset.load(dataset.samples[0]!);
    assert.deepEqual(Array.from(denormalize(batches[0]!.images.subarray(0, 24 * 16 * 3), 'minus1to1')), Array.from(sample.image));
    assert.deepEqual(Array.from(batches[0]!.labels!.subarray(0, 24 * 16)), Array.from(sample.label!));
  });

  test('resize with labels at the original resolution (evaluation protocol)', async () => {
    const loader = new BatchLoader(dataset, { batchSize: 1, normalization: 'imagenet', mode: 'sequential', resize: [8, 12], labelResolution: 'original' });
    const [first] = await collect(loader);
    assert.deepEqual([first!.height, first!.width, first!.labelHeight, first!.labelWidth], [8, 12, 16, 24]);
    assert.equal(first!.labels!.length, 16 * 24);
  });
});

describe('BatchLoader data-parallel shards', () => {
  const train = { normalization: 'minus1to1' as const, crop: [8, 8] as [number, number], scaleRange: [0.75, 1.5] as [number, number], flip: true, seed: 5 };

  test('train: ranks hold consecutive, disjoint parts of every global batch; together they are the one-process batch (order and augmentation)', async () => {
    const whole = await collect(new BatchLoader(dataset, { ...train, batchSize: 2 }).epoch(1));
    const parts = await Promise.all([0, 1].map((rank) => collect(new BatchLoader(dataset, { ...train, batchSize: 2, shard: { rank, worldSize: 2 } }).epoch(1))));
    assert.equal(whole.length, 3);
    for (let b = 0; b < whole.length; b++) {
      const [p0, p1] = [parts[0]![b]!, parts[1]![b]!];
      assert.equal(p0.batchSize, whole[b]!.batchSize / 2);
      assert.deepEqual([...p0.ids, ...p1.ids], whole[b]!.ids);
      assert.deepEqual([...p0.images, ...p1.images], Array.from(whole[b]!.images));
      assert.deepEqual([...p0.labels!, ...p1.labels!], Array.from(whole[b]!.labels!));
      // Each shard says where it sits in the global batch (per-image random streams key on it).
      assert.deepEqual([whole[b]!.shardOffset, p0.shardOffset, p1.shardOffset], [0, 0, 1]);
    }
    const loader = new BatchLoader(dataset, { ...train, batchSize: 4, shard: { rank: 1, worldSize: 2 } });
    assert.equal(loader.numBatches, 1);
    // Resuming a shard mid-epoch gives the same batches as well.
    assert.deepEqual((await collect(loader.epoch(3, 0))).map((x) => x.ids), (await collect(new BatchLoader(dataset, { ...train, batchSize: 4, shard: { rank: 1, worldSize: 2 } }).epoch(3))).map((x) => x.ids));
  });

  test('train: a world size that does not divide the batch (or the kept last batch) is one error naming data.batchSize', () => {
    const divisible = (e: unknown, got: string) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && e.message.startsWith(`data.batchSize: expected a global batch size divisible by the 2 ranks, got ${got}. Set data.batchSize to a multiple of 2`);
    assert.throws(() => new BatchLoader(dataset, { ...train, batchSize: 3, shard: { rank: 0, worldSize: 2 } }), (e) => divisible(e, 'batch size 3'));
    // 7 samples, batch 4, last batch of 3 kept.
    assert.throws(() => new BatchLoader(dataset, { ...train, batchSize: 4, dropLast: false, shard: { rank: 0, worldSize: 2 } }), (e) => divisible(e, 'a last batch of 3 of 7 samples'));
    assert.throws(() => new BatchLoader(dataset, { ...train, batchSize: 4, shard: { rank: 2, worldSize: 2 } }), /expected shard \{rank, worldSize\} with 0 <= rank < worldSize, got \{"rank":2,"worldSize":2\}/);
  });

  test('sequential: every sample exactly once over the ranks, in contiguous parts (as shardSamples for evaluation)', async () => {
    const ids = await Promise.all([0, 1, 2].map(async (rank) => (await collect(new BatchLoader(dataset, { batchSize: 2, normalization: 'imagenet', mode: 'sequential', shard: { rank, worldSize: 3 } }))).flatMap((b) => b.ids)));
    assert.deepEqual(ids, [['00001', '00002'], ['00003', '00004'], ['00005', '00006', '00007']]);
    assert.deepEqual([0, 1, 2].map((rank) => shardSamples(dataset, { rank, worldSize: 3 }).samples.map((s) => s.id)), ids);
    assert.equal(shardSamples(dataset, { rank: 0, worldSize: 1 }), dataset);
  });

  test("sequential with sequentialShard 'batch': each rank its part of every batch (a batch smaller than the ranks whole to each), the same number of batches everywhere", async () => {
    const options = { batchSize: 3, normalization: 'imagenet' as const, mode: 'sequential' as const, sequentialShard: 'batch' as const };
    const whole = await collect(new BatchLoader(dataset, { batchSize: 3, normalization: 'imagenet', mode: 'sequential' }));
    const parts = await Promise.all([0, 1].map((rank) => collect(new BatchLoader(dataset, { ...options, shard: { rank, worldSize: 2 } }))));
    // 7 samples in batches of 3, 3 and 1: split 1+2, 1+2; the last one (fewer images than ranks) whole to both.
    assert.deepEqual(parts.map((p) => p.map((b) => b.ids)), [[['00001'], ['00004'], ['00007']], [['00002', '00003'], ['00005', '00006'], ['00007']]]);
    assert.deepEqual(parts.map((p) => p.map((b) => b.shardOffset)), [[0, 0, 0], [1, 1, 0]]);
    for (let b = 0; b < 2; b++) assert.deepEqual([...parts[0]![b]!.images, ...parts[1]![b]!.images], Array.from(whole[b]!.images));
    assert.equal(new BatchLoader(dataset, { ...options, shard: { rank: 1, worldSize: 2 } }).numBatches, 3);
  });

  test('batchImageRng: an image draws the same stream whatever shard of the batch holds it', () => {
    const draws = (offset: number, image: number) => Array.from({ length: 3 }, ((rng) => () => rng.next())(batchImageRng({ shardOffset: offset }, 4, 5)(image)));
    assert.deepEqual(draws(2, 1), draws(0, 3));
    assert.deepEqual(batchImageRng({}, 4, 5)(3).next(), batchImageRng({ shardOffset: 0 }, 4, 5)(3).next());
    assert.notDeepEqual(draws(0, 2), draws(0, 3));
  });
});

test('normalisation: imagenet mean/std and minus1to1, inverse by denormalize', () => {
  const px = Uint8Array.from([255, 0, 128]);
  const imagenet = normalizeInto(px, 'imagenet');
  assert.ok(Math.abs(imagenet[0]! - (1 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(imagenet[1]! - (0 - 0.456) / 0.224) < 1e-5);
  assert.deepEqual(Array.from(normalizeInto(px, 'minus1to1')), [1, -1, Math.fround(128 / 127.5 - 1)]);
  assert.deepEqual(Array.from(denormalize(imagenet, 'imagenet')), [255, 0, 128]);
});
