#!/usr/bin/env node
// Times one forward+backward of the runtime-notes "small" UNet conv stack (encoder 16-32-64-128,
// two 3x3 conv+BN+ReLU per stage, maxpool, bilinear up + concat, 19-class CE; batch 4 x 64x128)
// on the wasm backend with protoseg's kernels and gradients. Not a test. Run after `npm run build`:
//   node bench/conv_grad.mjs [--steps 5] [--batch 4] [--size 64x128] [--stock]
// --stock swaps back tfjs' Conv2D gradient, tfjs' wasm Conv2DBackpropInput and Identity, and the stock
// batch-norm gradient (dW still needs protoseg's kernel: wasm has none) to show what the replacements buy.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/kernels/backend.js';
import { REPLACED_KERNELS } from '../dist/kernels/register_all_kernels.js';
import { batchNormTraining } from '../dist/ops/batch_norm_training.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const steps = Number(flag('steps', '5'));
const batch = Number(flag('batch', '4'));
const [height, width] = flag('size', '64x128').split('x').map(Number);
const stock = args.includes('--stock');

const stockConvGrad = tf.getGradient('Conv2D'); // tfjs' config, before protoseg replaces it
await initBackend('wasm');
if (stock) {
  tf.registerGradient(stockConvGrad);
  for (const name of ['Conv2DBackpropInput', 'Identity']) {
    const kernel = REPLACED_KERNELS.get(`wasm/${name}`);
    tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(kernel);
    kernel.setupFunc?.(tf.backend()); // its setup never ran: protoseg's kernel was registered first
  }
}

const channels = [16, 32, 64, 128];
const classes = 19;
let seed = 1;
const param = (shape, scale) => tf.variable(tf.randomNormal(shape, 0, scale, 'float32', seed++));
const convBlock = (cin, cout) => ({
  w: param([3, 3, cin, cout], Math.sqrt(2 / (9 * cin))),
  gamma: tf.variable(tf.ones([cout])),
  beta: tf.variable(tf.zeros([cout])),
});
const enc = [];
let cin = 3;
for (const c of channels) {
  enc.push([convBlock(cin, c), convBlock(c, c)]);
  cin = c;
}
const dec = [];
for (let i = channels.length - 2; i >= 0; i--) {
  dec.push([convBlock(channels[i + 1] + channels[i], channels[i]), convBlock(channels[i], channels[i])]);
}
const head = param([1, 1, channels[0], classes], 0.1);

function bn(x, gamma, beta) {
  if (!stock) return batchNormTraining(x, gamma, beta).y;
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
}
const block = (x, [a, b]) => {
  let h = tf.relu(bn(tf.conv2d(x, a.w, 1, 'same'), a.gamma, a.beta));
  return tf.relu(bn(tf.conv2d(h, b.w, 1, 'same'), b.gamma, b.beta));
};

function loss(x, labels) {
  const skips = [];
  let h = x;
  enc.forEach((stage, i) => {
    h = block(h, stage);
    if (i < enc.length - 1) {
      skips.push(h);
      h = tf.maxPool(h, 2, 2, 'same');
    }
  });
  dec.forEach((stage) => {
    const skip = skips.pop();
    h = tf.image.resizeBilinear(h, [skip.shape[1], skip.shape[2]], false, true);
    h = block(tf.concat([h, skip], 3), stage);
  });
  const logits = tf.conv2d(h, head, 1, 'valid');
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, classes), tf.logSoftmax(logits)), 3)));
}

const x = tf.randomNormal([batch, height, width, 3], 0, 1, 'float32', 99);
const labels = tf.randomUniform([batch, height, width], 0, classes, 'int32', 98);
const vars = [...enc.flat(), ...dec.flat()].flatMap((b) => [b.w, b.gamma, b.beta]).concat([head]);
const times = [];
for (let i = 0; i < steps + 2; i++) {
  const t0 = performance.now();
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => loss(x, labels), vars);
    value.dataSync();
    for (const g of Object.values(grads)) g.dataSync();
  });
  if (i >= 2) times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
console.log(
  `small UNet fwd+bwd, wasm, batch ${batch} x ${height}x${width}, ${stock ? 'tfjs stock conv dx, Identity and BN grad' : 'protoseg kernels/gradients'}: ` +
    `median ${times[Math.floor(times.length / 2)].toFixed(3)} s (min ${times[0].toFixed(3)} s, ${steps} steps after 2 warm-ups); ` +
    `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
);
