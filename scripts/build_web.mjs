#!/usr/bin/env node
// Builds the page of `protoseg export --format web` (npm run build runs it after tsc):
// type-checks src/export/web/ against the DOM typings (tsconfig.web.json), bundles page.ts with esbuild
// into one classic script (dist/export/web/app.js: TensorFlow.js with its WebGL, WASM and CPU backends,
// the three WASM binaries inlined as data: URLs, so the page loads nothing over the network and works
// from file://), and copies index.html next to it. The export copies both; model.js is written per model.
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const outDir = join(root, 'dist', 'export', 'web');

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.web.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const wasmFiles = {};
for (const name of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  wasmFiles[name] = `data:application/wasm;base64,${readFileSync(join(wasmDir, name)).toString('base64')}`;
}

mkdirSync(outDir, { recursive: true });
await build({
  entryPoints: [join(root, 'src', 'export', 'web', 'page.ts')],
  outfile: join(outDir, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'eof',
  define: { PROTOSEG_WASM_FILES: JSON.stringify(wasmFiles) },
  logLevel: 'warning',
});
copyFileSync(join(root, 'src', 'export', 'web', 'index.html'), join(outDir, 'index.html'));
const kb = (f) => Math.round(statSync(join(outDir, f)).size / 1024);
console.log(`build_web: wrote dist/export/web/app.js (${kb('app.js')} KiB) and index.html`);
