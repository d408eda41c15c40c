/**
 * The mean teacher's update of all its tensors at once, outside the gradient tape: returns
 * teacher_k * momentum + student_k * (1 - momentum) for every pair. On the native backend this is one
 * kernel (ProtosegEmaUpdate) instead of three kernels and two scalar uploads per tensor (~400 kernel
 * calls per iteration for the default UNet's parameters and per-domain BN statistics), with the same
 * float32 rounding, so results are bit for bit those of the composite. `weight` (default 1 - momentum)
 * is the students' factor, for updates written as moving * (1 - m) + batch * m (batch norm's running
 * statistics), whose m is not always 1 - (1 - m) in float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegEmaUpdate } from '../backend_libtorch/kernel_names.js';

export function emaUpdate(teachers: readonly tf.Tensor[], students: readonly tf.Tensor[], momentum: number, weight = 1 - momentum): tf.Tensor[] {
  if (teachers.length !== students.length) throw new Error(`emaUpdate: expected as many student as teacher tensors, got ${students.length} and ${teachers.length}.`);
  teachers.forEach((t, k) => {
    if (!tf.util.arraysEqual(t.shape, students[k]!.shape)) throw new Error(`emaUpdate: tensor ${k}: expected the student's shape [${t.shape}], got [${students[k]!.shape}].`);
  });
  if (teachers.length === 0) return [];
  if (tf.getKernel(ProtosegEmaUpdate, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(ProtosegEmaUpdate, [...teachers, ...students] as unknown as tf.NamedTensorMap, { momentum, weight }) as tf.Tensor[];
  }
  return tf.tidy(() => teachers.map((t, k) => tf.add(tf.mul(t, momentum), tf.mul(students[k]!, weight))));
}
