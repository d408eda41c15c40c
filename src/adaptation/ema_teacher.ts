/**
 * The mean teacher of self-training (Tarvainen & Valpola 2017; DACS, DAFormer): a second copy of the
 * segmentation model whose parameters and BN statistics are an exponential moving average of the
 * student's. It only predicts (eval mode): pseudo-labels and features on clean target images. Its
 * weights are part of the run's checkpoint, so a resumed run continues bit-identically.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { emaUpdate } from '../ops/ema_update.js';
import { createModel, type ModelOptions, type SegmentationModel } from '../models/segmentation_model.js';
import type { StateArrays } from './methods/method.js';

export class EmaTeacher {
  readonly model: SegmentationModel;
  /** Updates applied so far (the momentum warms up as min(1 - 1 / (updates + 1), momentum)). */
  updates = 0;
  private readonly pairs: [teacher: tf.Variable, student: tf.Variable][];

  constructor(student: SegmentationModel, modelOptions: ModelOptions, readonly momentum: number) {
    if (!(momentum >= 0 && momentum < 1)) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `EmaTeacher: expected momentum in [0, 1), got ${momentum}.`);
    this.model = createModel({ ...modelOptions, ...(modelOptions.encoder?.name === 'mobilenetv2' ? { encoder: { ...modelOptions.encoder, pretrained: false } } : {}) });
    this.model.loadStateDict(student.stateDict());
    const teacherVars = new Map([...this.model.parameters(), ...this.model.buffers()]);
    const studentVars = new Map([...student.parameters(), ...student.buffers()]);
    this.pairs = [...studentVars].map(([name, s]) => [teacherVars.get(name)!, s]);
  }

  /** Makes the teacher an exact copy of the student again (and restarts the momentum warm-up). */
  copyFrom(student: SegmentationModel): void {
    this.model.loadStateDict(student.stateDict());
    this.updates = 0;
  }

  /** The momentum of the next update. */
  get currentMomentum(): number {
    return Math.min(1 - 1 / (this.updates + 1), this.momentum);
  }

  /** teacher <- m * teacher + (1 - m) * student, for every parameter and BN statistic. */
  update(): void {
    const next = emaUpdate(this.pairs.map(([t]) => t), this.pairs.map(([, s]) => s), this.currentMomentum);
    this.pairs.forEach(([t], k) => t.assign(next[k]!));
    tf.dispose(next);
    this.updates += 1;
  }

  toState(): { meta: { updates: number }; arrays: StateArrays } {
    const arrays: StateArrays = {};
    for (const [name, entry] of Object.entries(this.model.stateDict())) arrays[`teacher.${name}`] = entry;
    return { meta: { updates: this.updates }, arrays };
  }

  loadState(meta: { updates: number }, arrays: StateArrays): void {
    const dict: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, entry] of Object.entries(arrays)) if (name.startsWith('teacher.')) dict[name.slice(8)] = { shape: entry.shape, data: entry.data as Float32Array };
    this.model.loadStateDict(dict);
    this.updates = meta.updates;
  }

  dispose(): void {
    this.model.dispose();
  }
}
