/**
 * A small explicit module system (see README.md for why not tfjs-layers): modules own named
 * parameters (trainable, tagged with an optimiser group), named buffers (non-trainable state such as
 * BN moving statistics) and named child modules. Names are hierarchical and stable across processes
 * ("encoder.stage1.conv1.kernel"), so checkpoints can be loaded by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';

/** Optimiser parameter group: 'bn' gets no weight decay, 'head'/'classifier' may get another lr. */
export type ParamGroup = 'conv' | 'bn' | 'head' | 'classifier';

/** One trainable parameter with its hierarchical name and group (the shape train/optimizer.ts takes). */
export interface NamedParameter {
  name: string;
  variable: tf.Variable;
  group: ParamGroup;
}

/** Serialised weights: name -> shape and float32 values (parameters and buffers together). */
export type StateDict = Record<string, { shape: number[]; data: Float32Array }>;

export interface LoadStateDictOptions {
  /** When true (default) missing and unexpected keys are errors; shape mismatches always are. */
  strict?: boolean;
}

/** 32-bit mix of a seed and an index (murmur3 finaliser), so neighbouring indices get unrelated seeds. */
export function mixSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Seeded initialisers. Each call draws with seed mixSeed(seed, n) where n counts the parameters
 * created so far, so a model built twice from the same seed has identical weights, and changing one
 * layer's shape does not change the values of the layers built before it.
 */
export class Initializer {
  private index = 0;
  constructor(readonly seed: number) {}

  private nextSeed(): number {
    return mixSeed(this.seed, this.index++);
  }

  /** He (Kaiming) normal: std = sqrt(2 / fanIn), for layers followed by ReLU. */
  heNormal(shape: number[], fanIn: number): tf.Tensor {
    return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', this.nextSeed());
  }

  /** Xavier (Glorot) normal: std = sqrt(2 / (fanIn + fanOut)), for linear outputs. */
  xavierNormal(shape: number[], fanIn: number, fanOut: number): tf.Tensor {
    return tf.randomNormal(shape, 0, Math.sqrt(2 / (fanIn + fanOut)), 'float32', this.nextSeed());
  }

  /** Constant tensor; still consumes an index so later seeds do not depend on which layers have biases. */
  constant(shape: number[], value: number): tf.Tensor {
    this.index++;
    return tf.fill(shape, value, 'float32');
  }
}

export abstract class Module {
  private readonly ownParameters = new Map<string, { variable: tf.Variable; group: ParamGroup }>();
  private readonly ownBuffers = new Map<string, tf.Variable>();
  /** Buffer name -> sibling buffer whose value a state dict without this buffer provides (older checkpoints). */
  private readonly bufferFallbacks = new Map<string, string>();
  private readonly children = new Map<string, Module>();
  private disposed = false;

  /** Registers a trainable parameter; takes ownership of `initial` (it is disposed). */
  protected addParameter(name: string, initial: tf.Tensor, group: ParamGroup): tf.Variable {
    this.checkFreeName(name);
    // No tfjs variable name: tfjs names must be unique per process, ours are unique per model.
    const variable = tf.variable(initial, true);
    initial.dispose();
    this.ownParameters.set(name, { variable, group });
    return variable;
  }

  /**
   * Registers non-trainable state (e.g. BN moving mean); takes ownership of `initial`. `fallback`
   * names a sibling buffer registered before it whose value loadStateDict takes when a state dict
   * lacks this one (state written before the buffer existed, e.g. Keras weights or older checkpoints).
   */
  protected addBuffer(name: string, initial: tf.Tensor, fallback?: string): tf.Variable {
    this.checkFreeName(name);
    if (fallback !== undefined && !this.ownBuffers.has(fallback)) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `Module: buffer "${name}" falls back to "${fallback}", which is not a buffer registered before it.`);
    }
    const variable = tf.variable(initial, false);
    initial.dispose();
    this.ownBuffers.set(name, variable);
    if (fallback !== undefined) this.bufferFallbacks.set(name, fallback);
    return variable;
  }

  /** Hierarchical buffer name -> the hierarchical name of its fallback (see addBuffer). */
  bufferFallbackNames(prefix = ''): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, fallback] of this.bufferFallbacks) out.set(prefix + name, prefix + fallback);
    for (const [name, child] of this.children) for (const [k, v] of child.bufferFallbackNames(`${prefix}${name}.`)) out.set(k, v);
    return out;
  }

  /** This module and every descendant, depth first in registration order. */
  *modules(): Generator<Module> {
    yield this;
    for (const child of this.children.values()) yield* child.modules();
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkFreeName(name);
    this.children.set(name, module);
    return module;
  }

  private checkFreeName(name: string): void {
    if (name === '' || name.includes('.')) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `Module: expected a name without dots, got "${name}".`);
    }
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `Module: expected a new name, got "${name}" twice.`);
    }
  }

  /** Child modules in registration order. */
  namedChildren(): Map<string, Module> {
    return new Map(this.children);
  }

  /** Every trainable parameter with hierarchical name and group, in registration order. */
  namedParameters(prefix = ''): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const [name, { variable, group }] of this.ownParameters) out.push({ name: prefix + name, variable, group });
    for (const [name, child] of this.children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Trainable parameters by hierarchical name. */
  parameters(): Map<string, tf.Variable> {
    return new Map(this.namedParameters().map((p) => [p.name, p.variable]));
  }

  /** Non-trainable state (BN moving statistics) by hierarchical name. */
  buffers(prefix = ''): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, variable] of this.ownBuffers) out.set(prefix + name, variable);
    for (const [name, child] of this.children) for (const [k, v] of child.buffers(`${prefix}${name}.`)) out.set(k, v);
    return out;
  }

  /** Number of trainable scalars. */
  countParameters(): number {
    return this.namedParameters().reduce((n, p) => n + p.variable.size, 0);
  }

  /** Parameters and buffers, copied out as float32 arrays (bit-exact). */
  stateDict(): StateDict {
    const out: StateDict = {};
    const all = new Map<string, tf.Variable>([...this.parameters(), ...this.buffers()]);
    for (const [name, variable] of all) {
      out[name] = { shape: [...variable.shape], data: Float32Array.from(variable.dataSync() as Float32Array) };
    }
    return out;
  }

  /**
   * Overwrites parameters and buffers from `dict`. Every shape is checked before anything is written,
   * so a failed load leaves the module unchanged.
   */
  loadStateDict(input: StateDict, options: LoadStateDictOptions = {}): void {
    const strict = options.strict ?? true;
    const targets = new Map<string, tf.Variable>([...this.parameters(), ...this.buffers()]);
    const dict: StateDict = { ...input };
    for (const [name, fallback] of this.bufferFallbackNames()) {
      if (!(name in dict) && dict[fallback] !== undefined) dict[name] = dict[fallback]!;
    }
    if (strict) {
      const missing = [...targets.keys()].filter((k) => !(k in dict));
      const unexpected = Object.keys(dict).filter((k) => !targets.has(k));
      if (missing.length > 0 || unexpected.length > 0) {
        const parts: string[] = [];
        if (missing.length > 0) parts.push(`missing ${listKeys(missing)}`);
        if (unexpected.length > 0) parts.push(`unexpected ${listKeys(unexpected)}`);
        throw new ProtosegError(
          'PROTOSEG_CHECKPOINT_INVALID',
          `loadStateDict: expected exactly the ${targets.size} keys of this model, got ${parts.join('; ')}. ` +
            'The checkpoint was written by a different model config; load it with the config saved next to it, or pass {strict: false} to load the matching keys only.',
        );
      }
    }
    const writes: Array<[tf.Variable, { shape: number[]; data: Float32Array }]> = [];
    for (const [name, variable] of targets) {
      const entry = dict[name];
      if (entry === undefined) continue;
      const size = entry.shape.reduce((a, b) => a * b, 1);
      if (entry.shape.join(',') !== variable.shape.join(',') || entry.data.length !== size) {
        throw new ProtosegError(
          'PROTOSEG_CHECKPOINT_INVALID',
          `loadStateDict: expected "${name}" with shape [${variable.shape.join(', ')}], got shape [${entry.shape.join(', ')}] with ${entry.data.length} values. ` +
            'The checkpoint was written by a different model config (widths, embedding size or classes); use the config saved next to it.',
        );
      }
      writes.push([variable, entry]);
    }
    for (const [variable, entry] of writes) {
      tf.tidy(() => variable.assign(tf.tensor(entry.data, variable.shape, 'float32')));
    }
    this.notifyStateLoaded('', new Set(Object.keys(input)));
  }

  /**
   * Called on this module and every descendant after loadStateDict wrote its values. `loaded(name)`
   * says whether the state dict held this module's own buffer `name` itself (false: it was missing, or
   * filled from its fallback). Modules with state beyond their variables (BatchNorm) refresh it here.
   */
  protected stateLoaded(_loaded: (name: string) => boolean): void {}

  private notifyStateLoaded(prefix: string, keys: ReadonlySet<string>): void {
    this.stateLoaded((name) => keys.has(prefix + name));
    for (const [name, child] of this.children) child.notifyStateLoaded(`${prefix}${name}.`, keys);
  }

  /** Frees every variable of this module and its children. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { variable } of this.ownParameters.values()) variable.dispose();
    for (const variable of this.ownBuffers.values()) variable.dispose();
    for (const child of this.children.values()) child.dispose();
  }
}

function listKeys(keys: string[]): string {
  const shown = keys.slice(0, 5).map((k) => `"${k}"`).join(', ');
  return keys.length > 5 ? `${shown} and ${keys.length - 5} more` : shown;
}
