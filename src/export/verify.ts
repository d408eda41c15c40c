/**
 * The safety net of every export: the graph, run with TensorFlow.js ops, must give the model's own
 * logits (model.predictLogits) on a probe input, or nothing is written. A model whose structure has
 * drifted from the rules in build_graph.ts fails here instead of producing a wrong file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import type { ExportGraph, ExportPipeline } from './graph.js';
import { GraphRunner } from './run_graph.js';

export interface GraphCheck {
  /** Probe input size [height, width]. */
  size: [number, number];
  maxAbsDifference: number;
  maxAbsLogit: number;
}

/** Largest |graph - model| allowed: float32 summation-order noise, relative to the logits' range. */
export function graphTolerance(maxAbsLogit: number): number {
  return 1e-4 * Math.max(1, maxAbsLogit);
}

/** Runs graph and model on the same seeded normalised input; throws PROTOSEG_INTERNAL when they differ. */
export function verifyExportGraph(model: SegmentationModel, graph: ExportGraph, pipeline: ExportPipeline): GraphCheck {
  const s = model.outputStride;
  const size: [number, number] = [2 * s, 3 * s];
  const runner = new GraphRunner(graph, pipeline);
  try {
    const { diff, max } = tf.tidy(() => {
      const x = tf.randomNormal([1, size[0], size[1], 3], 0, 1, 'float32', 12) as tf.Tensor4D;
      const expected = model.predictLogits(x);
      const actual = runner.runNetwork(x);
      if (actual.shape.join(',') !== expected.shape.join(',')) {
        throw new ProtosegError('PROTOSEG_INTERNAL', `export: expected graph logits of shape [${expected.shape.join(', ')}], got [${actual.shape.join(', ')}]. The rules in src/export/build_graph.ts no longer match the model; please report it.`);
      }
      return { diff: tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]!, max: tf.max(tf.abs(expected)).dataSync()[0]! };
    });
    if (!(diff <= graphTolerance(max))) {
      throw new ProtosegError(
        'PROTOSEG_INTERNAL',
        `export: expected the exported graph to reproduce the model's logits (tolerance ${graphTolerance(max).toExponential(1)}), got a max difference of ${diff} on a ${size[0]}x${size[1]} probe. ` +
          'The rules in src/export/build_graph.ts no longer match the model; nothing was written. Please report it.',
      );
    }
    return { size, maxAbsDifference: diff, maxAbsLogit: max };
  } finally {
    runner.dispose();
  }
}
