/**
 * One optimisation step: compute named loss terms, backpropagate their sum through the trainable
 * parameters, refuse to apply a non-finite update (naming the term that produced it), apply it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { releasingVariableGrads } from '../ops/variable_grads.js';
import { sumOfSquares } from '../ops/sum_of_squares.js';
import type { Optimizer, TrainableParam } from './optimizer.js';

/** Weighted loss terms of one step, by metric name (e.g. "loss/src/protoNce"). */
export type LossTerms = Record<string, tf.Scalar>;

/** A NaN or Inf loss: the step was not applied. */
export class NumericalFault extends ProtosegError {
  readonly term: string;
  constructor(term: string, value: number) {
    super('PROTOSEG_NUMERICAL', `loss term "${term}" is ${value} (the step was not applied).`);
    this.term = term;
  }
}

export interface StepResult {
  /** Value of every term and their sum ("loss/total"). */
  values: Record<string, number>;
}

/** This rank's loss values and gradients (by parameter name) of one step. */
export interface StepGradients {
  values: Record<string, number>;
  grads: Map<string, tf.Tensor>;
}

export interface TrainStepOptions {
  /**
   * Runs after the backward pass, before anything is checked or applied: returns the values and
   * gradients to use instead, e.g. averaged over the ranks of a data-parallel run
   * (src/distributed's GradientReducer). Every rank then makes the same finiteness decision. Tensors
   * it returns are disposed by trainStep; it must not dispose the ones it is given.
   */
  reduceGradients?: (local: StepGradients) => StepGradients;
}

/**
 * Runs `compute` under the gradient tape, sums its terms, checks every term and gradient is finite,
 * then applies the optimiser with learning rate `lr`. Leaves no tensors behind.
 */
export function trainStep(params: readonly TrainableParam[], optimizer: Optimizer, lr: number, compute: () => LossTerms, options: TrainStepOptions = {}): StepResult {
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const kept: LossTerms = {};
  // Frees activations during backprop (tf.variableGrads keeps them all to the end: ~2x peak memory).
  const { value, grads } = releasingVariableGrads(() => {
    const terms = compute();
    const names = Object.keys(terms);
    if (names.length === 0) throw new ProtosegError('PROTOSEG_INTERNAL', 'trainStep: no loss term is active in this step.');
    let total: tf.Scalar | undefined;
    for (const name of names) {
      const term = terms[name]!;
      kept[name] = tf.keep(term);
      total = total === undefined ? term : (tf.add(total, term) as tf.Scalar);
    }
    return total!;
  }, params.map((p) => p.variable));
  let reduced: tf.Tensor[] = [];
  try {
    let values: Record<string, number> = {};
    for (const [name, term] of Object.entries(kept)) values[name] = term.dataSync()[0]!;
    values['loss/total'] = value.dataSync()[0]!;
    let named = new Map<string, tf.Tensor>();
    for (const [variableName, grad] of Object.entries(grads)) named.set(nameOf.get(variableName)!, grad);
    if (options.reduceGradients !== undefined) {
      ({ values, grads: named } = options.reduceGradients({ values, grads: named }));
      reduced = [...named.values()];
    }
    for (const [name, v] of Object.entries(values)) if (!Number.isFinite(v)) throw new NumericalFault(name, v);
    // A finite loss can still give non-finite gradients (e.g. a normalisation of a zero vector).
    const gradNorm = sumOfSquares([...named.values()]);
    if (!Number.isFinite(gradNorm)) throw new NumericalFault('gradient', gradNorm);
    optimizer.apply(named, lr);
    return { values };
  } finally {
    value.dispose();
    Object.values(kept).forEach((t) => t.dispose());
    Object.values(grads).forEach((g) => g.dispose());
    reduced.forEach((g) => g.isDisposed || g.dispose());
  }
}

/**
 * The policy for a non-finite loss: the first time, restore the last good state (the caller's
 * `restore`, e.g. the latest checkpoint) and go on with a 10x lower learning rate; the second time,
 * give up with a message naming the term. Returns the factor to apply to the learning rate.
 */
export function recoverFromFault(fault: NumericalFault, recoveriesSoFar: number, step: number, restore: () => void, warn: (line: string) => void): number {
  if (recoveriesSoFar >= 1) {
    throw new ProtosegError(
      'PROTOSEG_NUMERICAL',
      `step ${step}: ${fault.message} It happened again after restoring the last checkpoint and lowering the learning rate 10x. ` +
        'Lower optimizer.lr further, or switch off the loss term named above (pcs.losses.<name>.enabled=false).',
    );
  }
  warn(`step ${step}: ${fault.message} Restoring the last good state and lowering the learning rate 10x.`);
  restore();
  return 0.1;
}
