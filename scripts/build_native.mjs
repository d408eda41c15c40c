#!/usr/bin/env node
// Builds protoseg's libtorch addon (src/backend_libtorch) with node-gyp when libtorch is found:
// LIBTORCH_DIR (a folder with include/ and lib/, e.g. a pytorch.org download) or Debian's
// libtorch-dev. Without libtorch it prints one line and exits 0: the wasm backend stays the default.
// Usage: node scripts/build_native.mjs [--force]   (npm runs it as the "install" script)
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = join(root, 'src', 'backend_libtorch');
const built = join(addonDir, 'build', 'Release', 'protoseg_libtorch.node');

function findLibtorch() {
  const dir = process.env.LIBTORCH_DIR;
  if (dir) {
    if (existsSync(join(dir, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return { dir, label: dir };
    return { error: `LIBTORCH_DIR=${dir} has no include/torch/csrc/api/include/torch/torch.h` };
  }
  const header = '/usr/include/torch/csrc/api/include/torch/torch.h';
  const libs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/lib64'];
  if (existsSync(header) && libs.some((l) => existsSync(join(l, 'libtorch_cpu.so')))) return { dir: '', label: 'system (libtorch-dev)' };
  return undefined;
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c));
}

const found = findLibtorch();
if (found === undefined || 'error' in found) {
  console.log(`protoseg: native backend skipped (${found?.error ?? 'libtorch not found: apt-get install libtorch-dev or set LIBTORCH_DIR'}); wasm stays the default.`);
  process.exit(0);
}
if (existsSync(built) && !process.argv.includes('--force')) {
  console.log(`protoseg: native backend already built (${built}); pass --force to rebuild.`);
  process.exit(0);
}
const gyp = findNodeGyp();
if (gyp === undefined) {
  console.log('protoseg: native backend skipped (node-gyp not found; it ships with npm); wasm stays the default.');
  process.exit(0);
}
const args = [gyp, 'rebuild', `--directory=${addonDir}`, `--jobs=${Math.max(1, (await import('node:os')).availableParallelism())}`];
// Local node headers avoid a download (the machine may be offline).
const prefix = resolve(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
console.log(`protoseg: building the native backend against libtorch ${found.label} ...`);
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, LIBTORCH_DIR: found.dir } });
if (result.status !== 0) {
  // A failed optional build must not fail npm install: report and carry on with wasm.
  console.log('protoseg: native backend build FAILED (see the output above); wasm stays the default.');
  process.exit(0);
}
console.log(`protoseg: native backend built: ${built}`);
