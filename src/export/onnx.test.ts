/**
 * `protoseg export --format onnx` against `protoseg predict` on the same checkpoint and the same
 * built-in benchmark images, at two image sizes (64x128, and 50x94 which the graph must resize),
 * for both encoders: onnxruntime-node's trainIds agree with predict's on >= 99.9% of pixels and its
 * logits are within 1e-3 of predict's. The file passes the reference ONNX checker (onnx.checker with
 * full_check, Debian python3-onnx; no npm ONNX package ships a checker) and loads in onnxruntime-node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { CLASSES } from '../data/label_maps.js';
import { readImage } from '../data/image_io.js';
import { decodePng } from '../data/png.js';
import { loadModel, type LoadedRunModel } from '../train/load_model.js';
import { initTestBackend } from '../test_utils/backend.js';
import { patternRgb, writeRgbPngFile } from '../test_utils/fixtures.js';
import { main } from '../cli/main.js';
import { configSha256 } from './metadata.js';
import { ONNX_IR_VERSION, ONNX_OPSET, readOnnxMetadata } from './onnx.js';
import { agreement, predictReferenceLogits, predictTrainIds, writeExportFixture, type ExportFixture, type FixtureEncoder } from './test_fixture.js';

/** The first python whose `onnx` module imports (CI: Debian's /usr/bin/python3 with python3-onnx). */
function findOnnxPython(): string {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  throw new Error('ONNX checker: expected a python3 with the onnx package, found none. Install it: apt-get install -y python3-onnx');
}

const CHECKER = `
import sys, onnx
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
print(model.ir_version, model.opset_import[0].version, len(model.graph.node))
`;

async function runOnnx(session: ort.InferenceSession, images: string[]): Promise<{ logits: Float32Array; trainIds: Int32Array; dims: readonly number[] }> {
  const decoded = await Promise.all(images.map((p) => readImage(p)));
  const { width, height } = decoded[0]!;
  const data = new Float32Array(decoded.length * height * width * 3);
  decoded.forEach((img, i) => data.set(img.data, i * height * width * 3));
  const out = await session.run({ images: new ort.Tensor('float32', data, [decoded.length, height, width, 3]) });
  return { logits: out['logits']!.data as Float32Array, trainIds: out['trainIds']!.data as Int32Array, dims: out['trainIds']!.dims };
}

for (const encoder of ['scratch', 'mobilenetv2'] as FixtureEncoder[]) {
  describe(`export --format onnx (${encoder}) vs protoseg predict`, () => {
    let dir: string;
    let fixture: ExportFixture;
    let onnxPath: string;
    let session: ort.InferenceSession;
    let backend: string;
    let loaded: LoadedRunModel;

    before(async () => {
      backend = (await initTestBackend()).name;
      dir = mkdtempSync(join(tmpdir(), `protoseg-onnx-${encoder}-`));
      fixture = await writeExportFixture(dir, encoder);
      onnxPath = join(dir, 'model.onnx');
      assert.equal(await main(['export', '--checkpoint', fixture.checkpoint, '--format', 'onnx', '--out', onnxPath, '--backend', backend, '--quiet']), 0);
      session = await ort.InferenceSession.create(onnxPath);
      // The reference model, loaded as predict loads it.
      loaded = loadModel({ checkpoint: fixture.checkpoint });
    });
    after(async () => {
      await session?.release();
      loaded?.model.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('has the contract inputs and outputs and passes the ONNX checker (full_check)', () => {
      assert.deepEqual(session.inputNames, ['images']);
      assert.deepEqual(session.outputNames, ['logits', 'trainIds']);
      const r = spawnSync(findOnnxPython(), ['-c', CHECKER, onnxPath], { encoding: 'utf8' });
      assert.equal(r.status, 0, `onnx.checker rejected the file: ${r.stderr}`);
      const [ir, opset, nodes] = r.stdout.trim().split(' ').map(Number);
      assert.equal(ir, ONNX_IR_VERSION);
      assert.equal(opset, ONNX_OPSET);
      assert.ok(nodes! > 10);
    });

    it('carries class names, palette, protoseg version and the config hash in its metadata', () => {
      const meta = readOnnxMetadata(readFileSync(onnxPath));
      assert.deepEqual(JSON.parse(meta['classNames']!), CLASSES.map((c) => c.name));
      assert.deepEqual(JSON.parse(meta['palette']!), CLASSES.map((c) => [...c.color]));
      const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
      assert.equal(meta['protosegVersion'], version);
      assert.equal(meta['configSha256'], configSha256(fixture.config));
      assert.match(meta['configSha256']!, /^[0-9a-f]{64}$/);
      assert.equal(meta['encoder'], encoder);
      assert.equal(meta['inputNormalization'], encoder === 'scratch' ? 'imagenet' : 'minus1to1');
      assert.equal(meta['batchNormStatistics'], 'shared');
      assert.deepEqual(JSON.parse(meta['checkpoint']!), { file: 'best.ckpt', step: 3 });
    });

    if (encoder === 'scratch') {
      it('--scale (a factor, or a fixed network size) is baked in as predict --scale applies it', async () => {
        for (const scale of ['0.75', '48x80']) {
          const path = join(dir, `scale-${scale}.onnx`);
          assert.equal(await main(['export', '--checkpoint', fixture.checkpoint, '--format', 'onnx', '--out', path, '--scale', scale, '--backend', backend, '--quiet']), 0);
          assert.equal(readOnnxMetadata(readFileSync(path))['networkScale'], scale === '0.75' ? '0.75' : '{"height":48,"width":80}');
          const checked = spawnSync(findOnnxPython(), ['-c', CHECKER, path], { encoding: 'utf8' });
          assert.equal(checked.status, 0, `onnx.checker rejected the --scale ${scale} file: ${checked.stderr}`);
          const scaled = await ort.InferenceSession.create(path);
          try {
            const images = [...fixture.images.native, ...fixture.images.odd];
            for (const image of images) {
              const expected = (await predictTrainIds(fixture.checkpoint, [image], join(dir, `pred-scale-${scale}-${images.indexOf(image)}`), backend, scale)).get(basename(image))!;
              const { trainIds } = await runOnnx(scaled, [image]);
              assert.ok(agreement(trainIds, expected) >= 0.999, `--scale ${scale}, ${image}: ${agreement(trainIds, expected)}`);
            }
          } finally {
            await scaled.release();
          }
        }
      });

      it('rounds sides to the network size exactly as predict does, halves included (40, 24, 56, 72 and 8 px at stride 16)', async () => {
        for (const [h, w] of [[40, 24], [56, 72], [8, 8], [23, 41]] as const) {
          const image = join(dir, `pattern_${h}x${w}.png`);
          await writeRgbPngFile(image, w, h, patternRgb(w, h, h));
          const { logits } = await runOnnx(session, [image]);
          const reference = await predictReferenceLogits(loaded.model, image, 1);
          let worst = 0;
          for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(logits[i]! - reference.logits[i]!));
          assert.ok(worst <= 1e-3, `${h}x${w}: max |logit difference| ${worst}`);
        }
      });

      it('the README\'s onnxruntime example writes the trainIds protoseg predict writes', async () => {
        const root = fileURLToPath(new URL('../../', import.meta.url));
        const readme = readFileSync(join(root, 'README.md'), 'utf8');
        const block = /Ten lines of onnxruntime[\s\S]*?```js\n([\s\S]*?)```/.exec(readme);
        assert.ok(block, 'README: the onnxruntime example block');
        assert.ok(block[1]!.trim().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('//')).length <= 10, 'ten lines');
        // Inside the package, so its imports resolve to protoseg's node_modules.
        const script = join(root, 'dist', `.readme-example-${process.pid}.mjs`);
        const image = join(dir, 'street.png');
        copyFileSync(fixture.images.odd[0]!, image);
        writeFileSync(script, block[1]!);
        try {
          const r = spawnSync(process.execPath, [script, onnxPath, image], { encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
        } finally {
          rmSync(script, { force: true });
        }
        const ids = decodePng(readFileSync(join(dir, 'street_trainIds.png'))).data as Uint8Array;
        const expected = (await predictTrainIds(fixture.checkpoint, [image], join(dir, 'pred-readme'), backend)).get('street.png')!;
        assert.ok(agreement(ids, expected) >= 0.999);
      });
    }

    for (const size of ['native', 'odd'] as const) {
      it(`${size} size: trainIds agree on >= 99.9% of pixels and logits are within 1e-3 (batch of 2)`, async (t) => {
        const images = fixture.images[size];
        const predicted = await predictTrainIds(fixture.checkpoint, images, join(dir, `pred-${size}`), backend);
        const { logits, trainIds, dims } = await runOnnx(session, images);
        const pixels = trainIds.length / images.length;
        assert.deepEqual(dims.slice(0, 1), [images.length]);
        for (let k = 0; k < images.length; k++) {
          const expected = predicted.get(basename(images[k]!))!;
          assert.equal(expected.length, pixels);
          const share = agreement(trainIds.subarray(k * pixels, (k + 1) * pixels), expected);
          assert.ok(share >= 0.999, `${basename(images[k]!)}: trainIds agree on ${(100 * share).toFixed(3)}% of pixels`);
          assert.ok(new Set(expected).size >= 2, 'the prediction is not constant (the comparison would be vacuous)');
          const reference = await predictReferenceLogits(loaded.model, images[k]!, loaded.config.eval.scale);
          const ours = logits.subarray(k * reference.logits.length, (k + 1) * reference.logits.length);
          let worst = 0;
          for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - reference.logits[i]!));
          assert.ok(worst <= 1e-3, `${basename(images[k]!)}: max |logit difference| ${worst}`);
          t.diagnostic(`${basename(images[k]!)} ${reference.height}x${reference.width}: trainIds agree on ${(100 * share).toFixed(3)}%, max |logit difference| ${worst.toExponential(2)}`);
        }
      });
    }
  });
}
