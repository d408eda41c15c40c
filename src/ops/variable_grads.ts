/**
 * variableGrads with PyTorch's memory behaviour: the same values and gradients as tf.variableGrads,
 * but each tape node's saved tensors and its outputs' gradients are freed as soon as the backward
 * pass has gone through that node.
 *
 * tfjs 4.22's engine.gradients keeps every tensor saved for backprop and every intermediate
 * gradient alive until the whole backward pass ends, so its peak is about forward activations +
 * all activation gradients; PyTorch's autograd frees each node's saved tensors and consumed
 * gradients as it goes. For a UNet step that is the difference between ~1.8x and ~1x PyTorch's
 * peak memory (bench/native_unet.mjs). Backend-agnostic: it only reorders disposal.
 *
 * It drives the engine's tape through members the 4.x engine exposes at run time but not in its
 * types (startTape/endTape/state.activeTape); nested use under another gradient falls back to
 * tf.variableGrads, which must keep the tape for the outer pass.
 */
import * as tf from '@tensorflow/tfjs-core';

type GradientClosures = Record<string, () => tf.Tensor>;

/** One recorded kernel call (tfjs 4.x TapeNode). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => GradientClosures;
  saved?: tf.Tensor[];
}

/** The engine members used here (present on tfjs-core 4.x's Engine, private in its typings). */
interface TapeEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
}

function tapeEngine(): TapeEngine | undefined {
  const engine = tf.engine() as unknown as Partial<TapeEngine>;
  // state.activeTape only exists once a first tape has run, so it is not part of the check.
  const ok = typeof engine.startTape === 'function' && typeof engine.endTape === 'function' && typeof engine.state?.gradientDepth === 'number';
  return ok ? (engine as TapeEngine) : undefined;
}

/**
 * The nodes on a path from some x to y, in tape order, each with the inputs that depend on an x
 * (only those need a gradient).
 */
function nodesFromXsToY(tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): Array<{ node: TapeNode; inputs: Array<[string, tf.Tensor]> }> {
  const fromX = new Set(xs.map((x) => x.id));
  const reachedFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      reachedFromX.add(node.id);
      for (const out of node.outputs) fromX.add(out.id);
    }
  }
  const leadsToY = new Set([y.id]);
  const reachesY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((t) => leadsToY.has(t.id))) {
      reachesY.add(node.id);
      for (const input of Object.values(node.inputs)) leadsToY.add(input.id);
    }
  }
  return tape
    .filter((node) => reachedFromX.has(node.id) && reachesY.has(node.id))
    .map((node) => ({ node, inputs: Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id)) }));
}

function disposeSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
  node.saved = [];
}

/**
 * Value of f() (a scalar) and its gradient with respect to each trainable variable in `vars` that it
 * depends on, keyed by variable name, like tf.variableGrads(f, vars). The caller disposes both.
 */
export function releasingVariableGrads(f: () => tf.Scalar, vars: readonly tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = tapeEngine();
  if (engine === undefined || engine.state.gradientDepth !== 0) return tf.variableGrads(f, [...vars]);
  const xs = vars.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error(`releasingVariableGrads: expected at least one trainable variable, got ${vars.length} and none is trainable.`);

  engine.startTape();
  let value: tf.Scalar;
  try {
    value = tf.tidy(f);
  } catch (error) {
    const tape = engine.state.activeTape ?? [];
    engine.endTape();
    tape.forEach(disposeSaved);
    engine.state.activeTape = null;
    throw error;
  }
  engine.endTape();
  const tape = engine.state.activeTape ?? [];
  try {
    if (!(value instanceof tf.Tensor) || value.rank !== 0) {
      throw new Error(`releasingVariableGrads: f must return a scalar tensor, got ${value instanceof tf.Tensor ? `rank ${(value as tf.Tensor).rank}` : typeof value}.`);
    }
    const path = nodesFromXsToY(tape, xs, value);
    const onPath = new Set(path.map(({ node }) => node.id));
    // Saved tensors of nodes off the x -> y path are never needed.
    for (const node of tape) if (!onPath.has(node.id)) disposeSaved(node);

    const grads = tf.tidy(() => {
      const xIds = new Set(xs.map((x) => x.id));
      const accumulated = new Map<number, tf.Tensor>([[value.id, tf.onesLike(value)]]);
      for (let i = path.length - 1; i >= 0; i--) {
        const { node, inputs } = path[i]!;
        if (node.gradient === undefined) throw new Error(`releasingVariableGrads: no gradient is registered for kernel ${node.kernelName}.`);
        const dys = node.outputs.map((o) => accumulated.get(o.id) ?? null);
        // Tensors that outlive this node's scope; a closure returning one of them as is gets a
        // clone, so freeing them below cannot free the gradient.
        const outside = new Set<tf.Tensor>([...(dys.filter((d) => d !== null) as tf.Tensor[]), ...(node.saved ?? []), ...Object.values(node.inputs), ...node.outputs]);
        const dxs = tf.tidy(() => {
          const closures = node.gradient!(dys);
          return inputs.map(([name]) => {
            const closure = closures[name];
            if (closure === undefined) throw new Error(`releasingVariableGrads: the gradient of ${node.kernelName} has no entry for input "${name}" (it has ${Object.keys(closures).join(', ')}).`);
            const dx = closure();
            return outside.has(dx) ? dx.clone() : dx;
          });
        });
        disposeSaved(node);
        for (const o of node.outputs) {
          const dy = accumulated.get(o.id);
          if (dy !== undefined && !xIds.has(o.id)) {
            dy.dispose();
            accumulated.delete(o.id);
          }
        }
        inputs.forEach(([name, x], j) => {
          const dx = dxs[j]!;
          if (dx.dtype !== 'float32' || !tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(`releasingVariableGrads: the gradient of ${node.kernelName} for input "${name}" is ${dx.dtype} [${dx.shape}], expected float32 [${x.shape}].`);
          }
          const previous = accumulated.get(x.id);
          if (previous === undefined) {
            accumulated.set(x.id, dx);
          } else {
            accumulated.set(x.id, tf.add(previous, dx));
            previous.dispose();
            dx.dispose();
          }
        });
      }
      const named: tf.NamedTensorMap = {};
      for (const x of xs) {
        const g = accumulated.get(x.id);
        if (g !== undefined) named[x.name] = g;
      }
      return named;
    });
    if (Object.keys(grads).length === 0) {
      throw new Error('releasingVariableGrads: the result does not depend on any of the variables; make sure f uses them (inside f, not precomputed).');
    }
    return { value, grads };
  } catch (error) {
    value.dispose();
    throw error;
  } finally {
    tape.forEach(disposeSaved);
    engine.state.activeTape = null;
  }
}
