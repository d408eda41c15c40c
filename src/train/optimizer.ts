/**
 * SGD (Nesterov) momentum and Adam over named variables with parameter groups.
 * Written here rather than using tf.train.* because protoseg needs: per-group learning-rate multipliers,
 * no weight decay on batch-norm parameters, optimiser state in checkpoints, and resetting the state of
 * individual classifier rows when APCL overwrites them (algorithm.md j.8).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { adamUpdate } from '../ops/adam_update.js';

export type ParamGroup = 'conv' | 'bn' | 'head' | 'classifier';

export interface TrainableParam {
  name: string;
  variable: tf.Variable;
  group: ParamGroup;
}

export interface OptimizerOptions {
  name: 'adam' | 'sgd';
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  /** L2 penalty added to the gradient; skipped for 'bn' parameters. */
  weightDecay: number;
  /** Multiplies the learning rate of 'head' and 'classifier' parameters. */
  headLrMultiplier: number;
  epsilon?: number;
}

/** Serialisable optimiser state: step count and, per parameter, its slot arrays (m, v or momentum). */
export interface OptimizerState {
  name: 'adam' | 'sgd';
  step: number;
  slots: Record<string, { shape: number[]; values: Float32Array[] }>;
}

export class Optimizer {
  readonly options: OptimizerOptions;
  private readonly params: Map<string, TrainableParam>;
  private readonly slots = new Map<string, tf.Variable[]>();
  private stepCount = 0;

  constructor(options: OptimizerOptions, params: readonly TrainableParam[]) {
    this.options = options;
    this.params = new Map(params.map((p) => [p.name, p]));
    const slotCount = options.name === 'adam' ? 2 : 1;
    for (const p of params) {
      // tidy frees the zeros the variable is initialised from (the variable itself survives it).
      this.slots.set(p.name, Array.from({ length: slotCount }, () => tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false))));
    }
  }

  get step(): number {
    return this.stepCount;
  }

  /** Applies one update with base learning rate `lr`; `grads` maps parameter names to gradients. */
  apply(grads: ReadonlyMap<string, tf.Tensor> | Record<string, tf.Tensor>, lr: number): void {
    const entries = grads instanceof Map ? [...grads.entries()] : Object.entries(grads);
    this.stepCount += 1;
    const { name, momentum, nesterov, beta1, beta2, weightDecay, headLrMultiplier } = this.options;
    const epsilon = this.options.epsilon ?? 1e-8;
    const t = this.stepCount;
    for (const [paramName, grad] of entries) {
      const param = this.params.get(paramName);
      const slots = this.slots.get(paramName);
      if (param === undefined || slots === undefined) {
        throw new ProtosegError('PROTOSEG_INTERNAL', `Optimizer: gradient for unknown parameter "${paramName}".`);
      }
      const groupLr = param.group === 'head' || param.group === 'classifier' ? lr * headLrMultiplier : lr;
      const decay = param.group === 'bn' ? 0 : weightDecay;
      tf.tidy(() => {
        if (name === 'adam') {
          const [m, v] = slots as [tf.Variable, tf.Variable];
          const stepSize = (groupLr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
          const next = adamUpdate(param.variable, grad, m, v, { beta1, beta2, epsilon, stepSize, weightDecay: decay });
          m.assign(next.m);
          v.assign(next.v);
          param.variable.assign(next.param);
          return;
        }
        const g = decay > 0 ? grad.add(param.variable.mul(decay)) : grad;
        const buffer = slots[0]!;
        const next = buffer.mul(momentum).add(g);
        buffer.assign(next);
        const update = nesterov ? g.add(next.mul(momentum)) : next;
        param.variable.assign(param.variable.sub(update.mul(groupLr)));
      });
    }
  }

  /** Zeroes the optimiser state of rows (first axis) of one parameter, e.g. classifier rows rewritten by APCL. */
  resetRows(paramName: string, rows: readonly number[]): void {
    const slots = this.slots.get(paramName);
    if (slots === undefined) throw new ProtosegError('PROTOSEG_INTERNAL', `Optimizer.resetRows: unknown parameter "${paramName}".`);
    if (rows.length === 0) return;
    for (const slot of slots) {
      tf.tidy(() => {
        const mask = new Float32Array(slot.shape[0]!).fill(1);
        for (const r of rows) mask[r] = 0;
        const shape = [slot.shape[0]!, ...slot.shape.slice(1).map(() => 1)];
        slot.assign(slot.mul(tf.tensor(mask, shape)));
      });
    }
  }

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [name, vars] of this.slots) {
      slots[name] = { shape: vars[0]!.shape, values: vars.map((v) => v.dataSync() as Float32Array) };
    }
    return { name: this.options.name, step: this.stepCount, slots };
  }

  setState(state: OptimizerState): void {
    if (state.name !== this.options.name) {
      throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `optimizer state: expected "${this.options.name}", got "${state.name}". Resume with the same optimizer.name.`);
    }
    for (const [name, vars] of this.slots) {
      const saved = state.slots[name];
      if (saved === undefined || saved.values.length !== vars.length || saved.shape.join(',') !== vars[0]!.shape.join(',')) {
        throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `optimizer state: parameter "${name}" is missing or has another shape in the checkpoint. Resume with the same model config.`);
      }
      vars.forEach((v, i) => v.assign(tf.tensor(saved.values[i]!, v.shape)));
    }
    this.stepCount = state.step;
  }

  dispose(): void {
    for (const vars of this.slots.values()) vars.forEach((v) => v.dispose());
    this.slots.clear();
  }
}
