/**
 * Every rank's memory-bank updates of a step, gathered so that every rank applies all of them and the
 * banks stay identical (and equal to those of one process that saw the whole global batch: ranks hold
 * consecutive slices of each global batch, and gathering in rank order restores the batch order).
 */
import type { BankBatch } from '../adaptation/memory_bank.js';
import { ProtosegError } from '../errors.js';
import { allGatherVariable, type Collectives } from './collectives.js';

/**
 * All ranks' BankBatch of one step as one BankBatch, in rank order; instance image indices are
 * shifted to the gathered batch. `dims` is the embedding size. Three collectives.
 */
export function allGatherBankBatch(collectives: Collectives, batch: BankBatch, dims: number): BankBatch {
  const images = batch.datasetIndex.length;
  const instances = batch.classId.length;
  if (batch.imageIndex.length !== instances || batch.confidence.length !== instances || batch.vectors.length !== instances * dims) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `allGatherBankBatch: expected imageIndex, classId and confidence of ${instances} instances and vectors of ${instances} x ${dims}, got ${batch.imageIndex.length}, ${instances}, ${batch.confidence.length} and ${batch.vectors.length} values.`,
    );
  }
  if (collectives.worldSize === 1) return batch;
  const ints = new Int32Array(2 + images + 2 * instances);
  ints[0] = images;
  ints[1] = instances;
  ints.set(Int32Array.from(batch.datasetIndex), 2);
  ints.set(batch.imageIndex, 2 + images);
  ints.set(batch.classId, 2 + images + instances);
  const { values: allInts, counts } = allGatherVariable(collectives, ints);
  const perRank: { images: number; instances: number; offset: number }[] = [];
  let offset = 0;
  for (const count of counts) {
    perRank.push({ images: allInts[offset]!, instances: allInts[offset + 1]!, offset });
    offset += count;
  }
  const floats = new Float32Array(instances * (1 + dims));
  floats.set(batch.confidence, 0);
  floats.set(batch.vectors, instances);
  const { values: allFloats } = allGatherVariable(collectives, floats, perRank.map((p) => p.instances * (1 + dims)));
  const totalImages = perRank.reduce((a, p) => a + p.images, 0);
  const totalInstances = perRank.reduce((a, p) => a + p.instances, 0);
  const out: BankBatch = {
    datasetIndex: new Int32Array(totalImages),
    imageIndex: new Int32Array(totalInstances),
    classId: new Int32Array(totalInstances),
    confidence: new Float32Array(totalInstances),
    vectors: new Float32Array(totalInstances * dims),
  };
  const datasetIndex = out.datasetIndex as Int32Array;
  let imageBase = 0;
  let instanceBase = 0;
  let floatOffset = 0;
  for (const p of perRank) {
    const base = p.offset + 2;
    datasetIndex.set(allInts.subarray(base, base + p.images), imageBase);
    const imageIndex = allInts.subarray(base + p.images, base + p.images + p.instances);
    for (let k = 0; k < p.instances; k++) out.imageIndex[instanceBase + k] = imageIndex[k]! + imageBase;
    out.classId.set(allInts.subarray(base + p.images + p.instances, base + p.images + 2 * p.instances), instanceBase);
    out.confidence.set(allFloats.subarray(floatOffset, floatOffset + p.instances), instanceBase);
    out.vectors.set(allFloats.subarray(floatOffset + p.instances, floatOffset + p.instances * (1 + dims)), instanceBase * dims);
    floatOffset += p.instances * (1 + dims);
    imageBase += p.images;
    instanceBase += p.instances;
  }
  return out;
}
