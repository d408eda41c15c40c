/**
 * Cosine classifier (PCS): weight [classes, D], rows re-normalised in every forward, inputs normalised,
 * no bias, logits = cos / T with a fixed temperature (T = 0.05, logit scale 20). Rows can be read and
 * overwritten in place, which APCL does with bank prototypes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';
import { l2Normalize } from '../layers.js';
import { Initializer, Module } from '../module.js';

export class CosineClassifier extends Module {
  readonly numClasses: number;
  readonly embeddingDim: number;
  readonly temperature: number;
  /** [classes, D]; hierarchical name "<prefix>.weight", group 'classifier'. */
  readonly weight: tf.Variable;

  constructor(init: Initializer, numClasses: number, embeddingDim: number, temperature = 0.05) {
    super();
    if (!(temperature > 0)) {
      throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `model.temperature: expected a positive number, got ${temperature}. PCS uses 0.05.`);
    }
    this.numClasses = numClasses;
    this.embeddingDim = embeddingDim;
    this.temperature = temperature;
    this.weight = this.addParameter('weight', init.xavierNormal([numClasses, embeddingDim], embeddingDim, numClasses), 'classifier');
  }

  /** Unit-norm rows [classes, D] (a new tensor). */
  normalizedWeight(): tf.Tensor2D {
    return l2Normalize(this.weight as tf.Tensor2D);
  }

  /** features [..., D] -> logits [..., classes] = cos(f, w_c) / T. */
  forward<T extends tf.Tensor>(features: T): T {
    const shape = features.shape;
    const d = shape[shape.length - 1];
    if (d !== this.embeddingDim) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `CosineClassifier.forward: expected features [..., ${this.embeddingDim}], got [${shape.join(', ')}].`);
    }
    return tf.tidy(() => {
      const f = l2Normalize(tf.reshape(features, [-1, this.embeddingDim]) as tf.Tensor2D);
      const logits = tf.div(tf.matMul(f, this.normalizedWeight(), false, true), this.temperature);
      return tf.reshape(logits, [...shape.slice(0, -1), this.numClasses]) as T;
    });
  }

  /** The stored rows (not re-normalised) of `classIds` (default all), row-major [ids.length * D]. */
  getRows(classIds?: readonly number[]): Float32Array {
    const all = this.weight.dataSync() as Float32Array;
    const d = this.embeddingDim;
    const ids = classIds ?? [...Array(this.numClasses).keys()];
    this.checkIds('getRows', ids);
    const out = new Float32Array(ids.length * d);
    ids.forEach((c, i) => out.set(all.subarray(c * d, (c + 1) * d), i * d));
    return out;
  }

  /**
   * Overwrites rows `classIds` with `rows` (row-major [classIds.length * D]), stored normalised. Reset the
   * optimiser state of these rows afterwards (algorithm.md j.8).
   */
  setRows(classIds: readonly number[], rows: Float32Array): void {
    const d = this.embeddingDim;
    this.checkIds('setRows', classIds);
    if (rows.length !== classIds.length * d) {
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `CosineClassifier.setRows: expected ${classIds.length} x ${d} = ${classIds.length * d} values, got ${rows.length}.`,
      );
    }
    const all = Float32Array.from(this.weight.dataSync() as Float32Array);
    classIds.forEach((c, i) => {
      const row = rows.subarray(i * d, (i + 1) * d);
      let norm = 0;
      for (const v of row) norm += v * v;
      norm = Math.sqrt(norm);
      if (!(norm > 0) || !Number.isFinite(norm)) {
        throw new ProtosegError('PROTOSEG_NUMERICAL', `CosineClassifier.setRows: expected a finite non-zero row for class ${c}, got norm ${norm}. Skip classes without prototypes.`);
      }
      for (let j = 0; j < d; j++) all[c * d + j] = row[j]! / norm;
    });
    tf.tidy(() => this.weight.assign(tf.tensor2d(all, [this.numClasses, d])));
  }

  private checkIds(where: string, ids: readonly number[]): void {
    const seen = new Set<number>();
    for (const c of ids) {
      if (!Number.isInteger(c) || c < 0 || c >= this.numClasses || seen.has(c)) {
        throw new ProtosegError(
          'PROTOSEG_SHAPE_MISMATCH',
          `CosineClassifier.${where}: expected distinct class ids in 0..${this.numClasses - 1}, got ${JSON.stringify(ids)}.`,
        );
      }
      seen.add(c);
    }
  }
}
