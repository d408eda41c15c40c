/**
 * Every covered kernel on the native backend against tfjs' cpu backend, on seeded random inputs
 * with odd shapes, broadcasting, H != W and stride 2 (relative error <= 1e-5 for float32).
 */
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { it, nativeVsCpu, rand, randInt, runOn, setupBackends } from './test/compare.js';

const TOL = 1e-5;

async function expectClose(f: () => tf.Tensor | tf.Tensor[], tol = TOL): Promise<void> {
  const err = await nativeVsCpu(f);
  assert.ok(err <= tol, `relative error ${err} > ${tol}`);
}

before(setupBackends);

describe('libtorch backend: elementwise', () => {
  const unary: [string, (x: tf.Tensor) => tf.Tensor, number, number][] = [
    ['abs', tf.abs, -2, 2], ['neg', tf.neg, -2, 2], ['exp', tf.exp, -3, 3], ['expm1', tf.expm1, -1, 1],
    ['log', tf.log, 0.1, 5], ['log1p', tf.log1p, -0.5, 3], ['sqrt', tf.sqrt, 0, 4], ['rsqrt', tf.rsqrt, 0.1, 4],
    ['square', tf.square, -3, 3], ['reciprocal', tf.reciprocal, 0.5, 3], ['relu', tf.relu, -2, 2], ['relu6', tf.relu6, -3, 9],
    ['elu', tf.elu, -3, 3], ['selu', tf.selu, -3, 3], ['sigmoid', tf.sigmoid, -6, 6], ['tanh', tf.tanh, -3, 3],
    ['softplus', tf.softplus, -5, 5], ['sin', tf.sin, -3, 3], ['cos', tf.cos, -3, 3], ['tan', tf.tan, -1, 1],
    ['asin', tf.asin, -0.9, 0.9], ['acos', tf.acos, -0.9, 0.9], ['atan', tf.atan, -3, 3], ['sinh', tf.sinh, -2, 2],
    ['cosh', tf.cosh, -2, 2], ['erf', tf.erf, -2, 2], ['sign', tf.sign, -2, 2], ['floor', tf.floor, -3, 3],
    ['ceil', tf.ceil, -3, 3], ['round', tf.round, -3, 3], ['zerosLike', tf.zerosLike, -1, 1], ['onesLike', tf.onesLike, -1, 1],
    ['clone', tf.clone, -1, 1], ['leakyRelu 0.3', (x) => tf.leakyRelu(x, 0.3), -2, 2], ['step 0.1', (x) => tf.step(x, 0.1), -2, 2],
    ['isNaN(log)', (x) => tf.isNaN(tf.log(x)), -1, 1], ['isInf(1/x)', (x) => tf.isInf(tf.div(1, tf.round(x))), -1, 1],
    ['isFinite(log)', (x) => tf.isFinite(tf.log(x)), -1, 1], ['clipByValue', (x) => tf.clipByValue(x, -0.3, 0.5), -1, 1],
  ];
  for (const [name, f, lo, hi] of unary) {
    it(`${name} x=[3,5,7]`, () => expectClose(() => f(rand([3, 5, 7], 1, lo, hi))));
  }

  const binary: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number][] = [
    ['add', tf.add, -2], ['sub', tf.sub, -2], ['mul', tf.mul, -2], ['div', tf.div, 0.5], ['maximum', tf.maximum, -2],
    ['minimum', tf.minimum, -2], ['pow', tf.pow, 0.2], ['squaredDifference', tf.squaredDifference, -2], ['atan2', tf.atan2, -2],
    ['equal(round)', (a, b) => tf.equal(tf.round(a), tf.round(b)), -2], ['notEqual(round)', (a, b) => tf.notEqual(tf.round(a), tf.round(b)), -2],
    ['less', tf.less, -2], ['lessEqual', tf.lessEqual, -2], ['greater', tf.greater, -2], ['greaterEqual', tf.greaterEqual, -2],
    ['logicalAnd', (a, b) => tf.logicalAnd(tf.greater(a, 0), tf.greater(b, 0)), -2],
    ['logicalOr', (a, b) => tf.logicalOr(tf.greater(a, 0), tf.greater(b, 0)), -2],
    ['logicalNot', (a) => tf.logicalNot(tf.greater(a, 0)), -2],
    ['prelu', (a, b) => tf.prelu(a, tf.abs(b)), -2],
    ['where', (a, b) => tf.where(tf.greater(a, b), a, b), -2],
  ];
  for (const [name, f, lo] of binary) {
    it(`${name} a=[2,3,5] b=[3,1] (broadcast)`, () => expectClose(() => f(rand([2, 3, 5], 2, lo, 2), rand([3, 1], 3, lo, 2))));
  }
  it('floorDiv and mod int32 a=[4,5] b=[5]', () =>
    expectClose(() => {
      const a = randInt([4, 5], 4, -20, 20);
      const b = tf.add(randInt([5], 5, 1, 6), tf.scalar(0, 'int32'));
      return [tf.floorDiv(a, b), tf.mod(a, b), tf.mod(tf.cast(a, 'float32'), tf.cast(b, 'float32'))];
    }));
  it('int32 add/mul/sum keep int32', () =>
    expectClose(() => {
      const a = randInt([3, 4], 6, -9, 9);
      return [tf.add(a, a), tf.mul(a, a), tf.sum(a), tf.abs(a), tf.neg(a)];
    }));
  it('cast float->int32 (truncates), int32->float, bool->float', () =>
    expectClose(() => {
      const x = rand([4, 6], 7, -3, 3);
      return [tf.cast(x, 'int32'), tf.cast(tf.cast(x, 'int32'), 'float32'), tf.cast(tf.greater(x, 0), 'float32'), tf.cast(x, 'bool')];
    }));
  it('addN of 3 x=[2,3,4]', () => expectClose(() => tf.addN([rand([2, 3, 4], 8), rand([2, 3, 4], 9), rand([2, 3, 4], 10)])));
});

describe('libtorch backend: reductions, softmax, matmul', () => {
  const x = (): tf.Tensor => rand([3, 4, 5], 11, -2, 2);
  for (const keepDims of [false, true]) {
    it(`sum/mean/max/min/prod axes [0,2] keepDims=${keepDims}`, () =>
      expectClose(() => [tf.sum(x(), [0, 2], keepDims), tf.mean(x(), [0, 2], keepDims), tf.max(x(), [0, 2], keepDims), tf.min(x(), [0, 2], keepDims), tf.prod(x(), [0, 2], keepDims)]));
  }
  it('sum/mean/max/min over all axes, -1 axis', () => expectClose(() => [tf.sum(x()), tf.mean(x()), tf.max(x()), tf.min(x(), -1), tf.sum(x(), -1)]));
  it('all/any axes [1]', () => expectClose(() => [tf.all(tf.greater(x(), -1.5), 1), tf.any(tf.greater(x(), 1.5), 1)]));
  it('argMax/argMin axis 1 and -1', () => expectClose(() => [tf.argMax(x(), 1), tf.argMin(x(), -1), tf.argMax(x())]));
  it('softmax and logSoftmax [4,19]', () => expectClose(() => [tf.softmax(rand([4, 19], 12, -5, 5)), tf.logSoftmax(rand([4, 19], 12, -5, 5))]));
  it('matMul with transposes a=[5,3] b=[4,3]', () =>
    expectClose(() => [tf.matMul(rand([5, 3], 13), rand([4, 3], 14), false, true), tf.matMul(rand([3, 5], 13), rand([3, 4], 14), true, false)]));
  it('batched matMul a=[2,5,3] b=[2,3,7]', () => expectClose(() => tf.matMul(rand([2, 5, 3], 15), rand([2, 3, 7], 16))));
  it('fused matMul bias + relu a=[5,3] b=[3,6]', () =>
    expectClose(() => tf.fused.matMul({ a: rand([5, 3], 17), b: rand([3, 6], 18), bias: rand([6], 19), activation: 'relu' })));
  it('cumsum exclusive/reverse, cumprod axis 1 x=[3,6]', () =>
    expectClose(() => [tf.cumsum(rand([3, 6], 20), 1), tf.cumsum(rand([3, 6], 20), 1, true, true), tf.cumprod(rand([3, 6], 20), 0)]));
  it('topk k=3 x=[4,9]', () => expectClose(() => { const r = tf.topk(rand([4, 9], 21), 3); return [r.values, r.indices]; }));
});

describe('libtorch backend: convolution and pooling', () => {
  const cases: [string, number[], number[], number, 'same' | 'valid', number][] = [
    ['3x3 s1 same', [2, 9, 7, 3], [3, 3, 3, 4], 1, 'same', 1],
    ['3x3 s2 same, even H (asymmetric pad)', [2, 8, 6, 3], [3, 3, 3, 5], 2, 'same', 1],
    ['3x3 s2 same, odd H', [2, 9, 7, 3], [3, 3, 3, 5], 2, 'same', 1],
    ['3x3 s2 valid', [1, 9, 8, 2], [3, 3, 2, 4], 2, 'valid', 1],
    ['1x1 s1', [2, 5, 7, 6], [1, 1, 6, 3], 1, 'same', 1],
    ['5x3 s1 same dilation 2', [1, 11, 9, 2], [5, 3, 2, 3], 1, 'same', 2],
  ];
  for (const [name, xs, fs, s, pad, d] of cases) {
    it(`conv2d ${name} x=[${xs}] f=[${fs}]`, () => expectClose(() => tf.conv2d(rand(xs, 30) as tf.Tensor4D, rand(fs, 31) as tf.Tensor4D, s, pad, 'NHWC', d)));
    if (d === 1) {
      it(`conv2d gradients ${name} x=[${xs}] f=[${fs}]`, () =>
        expectClose(() => {
          const w = rand(tf.conv2d(rand(xs, 30) as tf.Tensor4D, rand(fs, 31) as tf.Tensor4D, s, pad).shape, 32);
          return tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad), w)))([rand(xs, 30), rand(fs, 31)]);
        }));
    }
  }
  it('fused conv2d bias + relu x=[2,8,6,3] s2', () =>
    expectClose(() => tf.fused.conv2d({ x: rand([2, 8, 6, 3], 33) as tf.Tensor4D, filter: rand([3, 3, 3, 4], 34) as tf.Tensor4D, strides: 2, pad: 'same', bias: rand([4], 35), activation: 'relu' })));
  for (const [s, xs] of [[1, [2, 7, 9, 4]], [2, [2, 8, 6, 4]]] as const) {
    it(`depthwiseConv2d s${s} x=[${xs}] f=[3,3,4,2] and its gradients`, () =>
      expectClose(() => {
        const f = (x: tf.Tensor, k: tf.Tensor): tf.Tensor => tf.depthwiseConv2d(x as tf.Tensor4D, k as tf.Tensor4D, s, 'same');
        const y = f(rand([...xs], 36), rand([3, 3, 4, 2], 37));
        const w = rand(y.shape, 38);
        return [y, ...tf.grads((x: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(f(x, k), w)))([rand([...xs], 36), rand([3, 3, 4, 2], 37)])];
      }));
  }
  it('fused depthwiseConv2d bias + relu6 x=[1,7,5,3] f=[3,3,3,1]', () =>
    expectClose(() => tf.fused.depthwiseConv2d({ x: rand([1, 7, 5, 3], 39) as tf.Tensor4D, filter: rand([3, 3, 3, 1], 40) as tf.Tensor4D, strides: 1, pad: 'same', bias: rand([3], 41), activation: 'relu6' })));
  const pools: [string, number[], number, number, 'same' | 'valid'][] = [
    ['2x2 s2 valid', [2, 8, 6, 3], 2, 2, 'valid'],
    ['3x3 s2 same even H', [2, 8, 6, 3], 3, 2, 'same'],
    ['3x3 s1 same', [1, 7, 5, 2], 3, 1, 'same'],
    ['2x2 s2 valid odd H', [1, 9, 7, 2], 2, 2, 'valid'],
  ];
  for (const [name, xs, k, s, pad] of pools) {
    for (const kind of ['maxPool', 'avgPool'] as const) {
      const f = (x: tf.Tensor): tf.Tensor => tf[kind](x as tf.Tensor4D, k, s, pad);
      it(`${kind} ${name} x=[${xs}]`, () => expectClose(() => f(rand(xs, 42))));
      // tfjs-cpu's AvgPoolGrad divides by the whole window even where the forward averaged fewer
      // (padded) elements, so padded avgPool gradients are checked as adjoints instead.
      if (kind === 'avgPool' && pad === 'same') {
        it(`${kind} gradient is the adjoint, ${name} x=[${xs}]`, async () => {
          const [lhs, rhs] = await runOn('native', () => {
            const x = rand(xs, 42);
            const g = rand(f(x).shape, 43);
            const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), g)))(x);
            return [tf.sum(tf.mul(f(x), g)), tf.sum(tf.mul(x, dx))];
          });
          assert.ok(Math.abs(lhs!.values[0]! - rhs!.values[0]!) <= 1e-5 * Math.max(1, Math.abs(lhs!.values[0]!)), `${lhs!.values[0]} vs ${rhs!.values[0]}`);
        });
      } else {
        it(`${kind} gradient ${name} x=[${xs}]`, () =>
          expectClose(() => {
            const w = rand(f(rand(xs, 42)).shape, 43);
            return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x), w)))(rand(xs, 42));
          }));
      }
    }
  }
});

describe('libtorch backend: resize and batch norm', () => {
  const modes: [string, boolean, boolean][] = [['halfPixelCenters', false, true], ['alignCorners', true, false], ['legacy', false, false]];
  for (const [mode, align, half] of modes) {
    for (const size of [[9, 12], [3, 4]] as [number, number][]) {
      it(`resizeBilinear ${mode} [2,5,7,3] -> [${size}]`, () => expectClose(() => tf.image.resizeBilinear(rand([2, 5, 7, 3], 50) as tf.Tensor4D, size, align, half)));
      it(`resizeNearestNeighbor ${mode} [2,5,7,3] -> [${size}]`, () =>
        expectClose(() => tf.image.resizeNearestNeighbor(rand([2, 5, 7, 3], 51) as tf.Tensor4D, size, align, half)));
      // The gradients are checked as adjoints: <resize(x), g> == <x, resizeGrad(g)>.
      for (const kind of ['resizeBilinear', 'resizeNearestNeighbor'] as const) {
        it(`${kind} gradient is the adjoint, ${mode} [2,5,7,3] -> [${size}]`, async () => {
          const [lhs, rhs] = await runOn('native', () => {
            const x = rand([2, 5, 7, 3], 52);
            const g = rand([2, ...size, 3], 53);
            const f = (t: tf.Tensor): tf.Tensor => tf.image[kind](t as tf.Tensor4D, size, align, half);
            const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), g)))(x);
            return [tf.sum(tf.mul(f(x), g)), tf.sum(tf.mul(x, dx))];
          });
          assert.ok(Math.abs(lhs!.values[0]! - rhs!.values[0]!) <= 1e-5 * Math.max(1, Math.abs(lhs!.values[0]!)), `${lhs!.values[0]} vs ${rhs!.values[0]}`);
        });
      }
    }
  }
  it('resizeBilinear halfPixelCenters gradient matches protoseg cpu kernel, H != W', () =>
    expectClose(() => {
      const g = rand([2, 10, 14, 3], 54);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [10, 14], false, true), g)))(rand([2, 5, 7, 3], 55));
    }));
  it('batchNorm (inference kernel) x=[2,3,5,4]', () =>
    expectClose(() => tf.batchNorm(rand([2, 3, 5, 4], 56), rand([4], 57), rand([4], 58, 0.5, 2), rand([4], 59), rand([4], 60), 1e-3)));
});

describe('libtorch backend: shape and indexing', () => {
  const x = (): tf.Tensor => rand([3, 4, 5], 70);
  it('reshape, transpose, expandDims, squeeze', () =>
    expectClose(() => [tf.reshape(x(), [5, -1]), tf.transpose(x(), [2, 0, 1]), tf.expandDims(x(), 1), tf.squeeze(tf.reshape(x(), [3, 1, 20]))]));
  it('concat axis 0 and -1, stack, unstack, split', () =>
    expectClose(() => [tf.concat([x(), rand([3, 4, 2], 71)], -1), tf.concat([x(), x()], 0), tf.stack([x(), x()], 1), ...tf.unstack(x(), 2), ...tf.split(x(), [1, 3], 1), ...tf.split(x(), 5, 2)]));
  it('slice and stridedSlice (negative stride, masks)', () =>
    expectClose(() => [
      tf.slice(x(), [1, 0, 2], [2, -1, 3]),
      tf.stridedSlice(x(), [0, 3, 1], [3, 0, 5], [2, -1, 2]),
      tf.stridedSlice(x(), [1, 0, 0], [2, 4, 5], [1, 1, 1], 0, 0, 0, 0, 1),
      tf.stridedSlice(x(), [0, 1], [0, 3], [1, 1], 1, 1),
    ]));
  it('tile, pad, mirrorPad reflect/symmetric, reverse, broadcastTo', () =>
    expectClose(() => [
      tf.tile(x(), [2, 1, 3]),
      tf.pad(x(), [[1, 0], [0, 2], [1, 1]], 0.5),
      tf.mirrorPad(x(), [[1, 1], [2, 0], [0, 3]], 'reflect'),
      tf.mirrorPad(x(), [[1, 1], [2, 0], [0, 3]], 'symmetric'),
      tf.reverse(x(), [0, 2]),
      tf.broadcastTo(rand([4, 1], 72), [2, 4, 3]),
    ]));
  it('gather axis 1, batchDims 1, gatherND, scatterND', () =>
    expectClose(() => [
      tf.gather(x(), tf.tensor1d([3, 0, 0, 2], 'int32'), 1),
      tf.gather(x(), tf.tensor2d([[1, 2], [0, 0], [3, 1]], [3, 2], 'int32'), 1, 1),
      tf.gatherND(x(), tf.tensor2d([[0, 1], [2, 3], [1, 1]], [3, 2], 'int32')),
      tf.scatterND(tf.tensor2d([[1], [3], [1]], [3, 1], 'int32'), rand([3, 6], 73), [5, 6]),
    ]));
  it('gather gradient (unsortedSegmentSum) and unsortedSegmentSum with repeats', () =>
    expectClose(() => [
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([3, 0, 0, 2, 3], 'int32'), 1), rand([3, 5, 5], 74))))(x()),
      tf.unsortedSegmentSum(rand([6, 4], 75), tf.tensor1d([2, 0, 2, 1, 0, 2], 'int32'), 4),
    ]));
  it('oneHot, range, fill/zeros/ones, linspace', () =>
    expectClose(() => [
      tf.oneHot(tf.tensor2d([[0, 3, 18], [5, -1, 2]], [2, 3], 'int32'), 19, 2, -1),
      tf.oneHot(tf.tensor1d([4, 19, 0, 255, -3], 'int32'), 19),
      tf.oneHot(tf.tensor3d([[[1], [0]], [[2], [7]]], [2, 2, 1], 'int32'), 3, 1, 0, 'float32'),
      tf.cast(tf.oneHot(tf.tensor1d([1, 5, 2], 'int32'), 4), 'bool'),
      tf.range(0, 7, 1.5),
      tf.range(10, 1, -3, 'int32'),
      tf.fill([2, 3], 4.5),
      tf.zeros([3, 2], 'int32'),
      tf.ones([2, 2, 1]),
      tf.linspace(-1, 2, 7),
    ]));
  it('whereAsync coordinates', async () => {
    const t = tf.tensor([1, 0, 0, 1, 1, 0], [2, 3], 'bool');
    const w = await tf.whereAsync(t);
    assert.deepEqual(w.arraySync(), [[0, 0], [1, 0], [1, 1]]);
    tf.dispose([t, w]);
  });
});

describe('libtorch backend: errors and memory', () => {
  it('a kernel that is not covered fails naming the kernel and the backend', () => {
    assert.throws(() => tf.tidy(() => tf.einsum('ij,jk->ik', rand([2, 2], 1), rand([2, 2], 2))), /Kernel 'Einsum' not registered for backend 'native'/);
  });
  it('an unsupported dtype fails naming it', () => {
    assert.throws(() => tf.tensor(['a', 'b']), /dtype float32, int32 or bool, got "string"/);
  });
  it('disposing frees the ATen tensors (tf.memory() and the addon agree)', () => {
    const before = tf.memory() as tf.MemoryInfo & { nativeTensors: number; nativeBytes: number };
    const a = rand([64, 64], 3);
    const r = tf.reshape(a, [1, 64, 64, 1]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 1, 2]) as tf.Tensor4D;
    const b = tf.conv2d(r, w, 1, 'same');
    const during = tf.memory() as typeof before;
    assert.equal(during.nativeTensors - before.nativeTensors, 4);
    assert.equal(during.numDataBuffers - before.numDataBuffers, 4);
    // The reshape shares a's storage: 64*64 floats for a, 64*64*2 for b, plus w.
    assert.equal(during.nativeBytes - before.nativeBytes, (64 * 64 * 3 + 18) * 4);
    tf.dispose([a, r, w, b]);
    const after = tf.memory() as typeof before;
    assert.equal(after.nativeTensors, before.nativeTensors);
    assert.equal(after.nativeBytes, before.nativeBytes);
    assert.equal(after.numTensors, before.numTensors);
  });
});
