/**
 * In-domain prototypical contrastive loss `proto-each` (algorithm.md b.2): each instance embedding is
 * pulled towards the centroid of its cluster and pushed from the other centroids of the same domain,
 * every logit scaled by its own cluster's concentration phi_r, averaged over instances and k-means runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { batchMeanDenominator } from './batch_mean.js';
import { oneHotFloat } from './one_hot.js';
import { assertDtype, assertFiniteNumber, assertRank, assertSameAxes, shapeError } from './validate.js';

/** One k-means run on the domain's memory bank, restricted to the instances of the batch. */
export interface ClusteringRun {
  /** Unit centroids mu_r, [clusters, dims]. */
  centroids: tf.Tensor2D;
  /**
   * Cluster a(j) of each batch instance's bank slot, [instances], int32. -1 marks an instance without
   * an assignment (e.g. a slot that became valid after the last k-means); it is left out of the mean.
   */
  assignments: tf.Tensor1D;
  /** Concentrations phi_r, [clusters]. Treated as data (no gradient); clamped to concentrationFloor. */
  concentrations: tf.Tensor1D;
}

export interface ProtoNceLossInputs {
  /** Current unit instance embeddings z_j (carry the gradient), [instances, dims]. */
  embeddings: tf.Tensor2D;
  /** The M clustering runs of this domain (M >= 1). */
  runs: readonly ClusteringRun[];
}

export interface ProtoNceLossOptions {
  /**
   * Lower bound on phi (default 0.05, as PCS's compute_variance). PCS stores phi = -1 for an empty
   * cluster, which would flip the sign of its logits (pitfall j.5); the floor makes it a sharp but
   * valid temperature.
   */
  concentrationFloor?: number;
}

const OP = 'protoNceLoss';

interface CheckedRun {
  clusters: number;
  /** Clamped concentrations, plain data. */
  phi: Float32Array;
  validCount: number;
}

function checkRuns(inputs: ProtoNceLossInputs, floor: number): CheckedRun[] {
  assertRank(OP, 'embeddings', inputs.embeddings, 2, '[instances, dims]');
  assertDtype(OP, 'embeddings', inputs.embeddings, ['float32'], 'Cast with tf.cast(embeddings, "float32").');
  if (!Array.isArray(inputs.runs) || inputs.runs.length === 0) {
    throw shapeError(OP, 'runs must be a non-empty array of {centroids, assignments, concentrations}, got ' +
      `${Array.isArray(inputs.runs) ? 'an empty array' : typeof inputs.runs}. Run k-means before using this loss.`);
  }
  const z = inputs.embeddings;
  return inputs.runs.map((run, m) => {
    const c = `runs[${m}].centroids`;
    const a = `runs[${m}].assignments`;
    const p = `runs[${m}].concentrations`;
    assertRank(OP, c, run.centroids, 2, '[clusters, dims]');
    assertRank(OP, a, run.assignments, 1, '[instances]');
    assertRank(OP, p, run.concentrations, 1, '[clusters]');
    assertDtype(OP, c, run.centroids, ['float32'], 'Cast with tf.cast(centroids, "float32").');
    assertDtype(OP, a, run.assignments, ['int32'], 'Cast with tf.cast(assignments, "int32").');
    assertSameAxes(OP, 'embeddings', z, c, run.centroids, [[1, 1]], 'dims');
    assertSameAxes(OP, 'embeddings', z, a, run.assignments, [[0, 0]], 'instances');
    assertSameAxes(OP, c, run.centroids, p, run.concentrations, [[0, 0]], 'clusters');
    const clusters = run.centroids.shape[0];
    if (clusters < 1) throw shapeError(OP, `${c} must hold at least one cluster, got 0.`);
    const assignments = run.assignments.dataSync();
    let validCount = 0;
    for (let j = 0; j < assignments.length; j++) {
      const v = assignments[j]!;
      if (v < -1 || v >= clusters) {
        throw new ProtosegError('PROTOSEG_DATA_INVALID', `Error in ${OP}: ${a} must hold cluster indices in 0..${clusters - 1} or -1 (unassigned), got ${v} at index ${j}. Pass the assignments of the same k-means run as the centroids.`);
      }
      if (v >= 0) validCount++;
    }
    const phi = Float32Array.from(run.concentrations.dataSync());
    for (let r = 0; r < phi.length; r++) {
      if (Number.isNaN(phi[r])) {
        throw new ProtosegError('PROTOSEG_NUMERICAL', `Error in ${OP}: ${p}[${r}] is NaN. Check the k-means concentration computation (empty or degenerate cluster).`);
      }
      phi[r] = Math.max(phi[r]!, floor);
    }
    return { clusters, phi, validCount };
  });
}

/**
 * L = (1/M) sum_m (1/|J_m|) sum_{j in J_m} -log softmax_r(z_j . mu_r / phi_r)[a_m(j)], with J_m the
 * instances assigned in run m (a run with none contributes 0). Logits use a matrix product, never a
 * broadcast [instances, clusters, dims] tensor (pitfall j.1).
 */
export function protoNceLoss(inputs: ProtoNceLossInputs, options: ProtoNceLossOptions = {}): tf.Scalar {
  const floor = options.concentrationFloor ?? 0.05;
  assertFiniteNumber(OP, 'concentrationFloor', floor, 0, false);
  const checked = checkRuns(inputs, floor);
  // Before any early return: in a data-parallel run every rank takes part in these (batch_mean.ts).
  const denominators = checked.map((run) => batchMeanDenominator(run.validCount, OP));
  return tf.tidy(() => {
    const z = inputs.embeddings;
    // Keep the result on the tape even for an empty batch so tf.grads still sees z.
    if (z.shape[0] === 0) return tf.mul(tf.sum(z), 0) as tf.Scalar;
    const perRun = inputs.runs.map((run, m) => {
      const { clusters, phi } = checked[m]!;
      const similarity = tf.matMul(z, run.centroids, false, true); // [instances, clusters]
      const logits = tf.div(similarity, tf.tensor1d(phi, 'float32'));
      const assigned = tf.greaterEqual(run.assignments, 0);
      // One-hot selection: gather's gradient needs UnsortedSegmentSum, which wasm lacks.
      const target = tf.mul(
        oneHotFloat(tf.where(assigned, run.assignments, tf.zerosLike(run.assignments)), clusters),
        tf.expandDims(tf.cast(assigned, 'float32'), 1),
      );
      const nll = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits, -1))));
      return tf.div(nll, denominators[m]!);
    });
    return tf.div(tf.addN(perRun), perRun.length) as tf.Scalar;
  });
}
