#!/usr/bin/env node
// Builds protoseg's libtorch addon (src/backend_libtorch) with node-gyp when libtorch is found:
// LIBTORCH_DIR (a folder with include/ and lib/, e.g. a pytorch.org download) or Debian's
// libtorch-dev. Without libtorch it prints one line and exits 0: the wasm backend stays the default.
// The distributed part (csrc/distributed.cc: c10d TCPStore + ProcessGroupGloo) is added when the c10d
// and Gloo headers are found (apt-get install libgloo-dev) and a probe program links against
// libtorch; otherwise one line says why it is left out (single-process training is unaffected).
// PROTOSEG_DISTRIBUTED=0 leaves it out; PROTOSEG_WITH_NCCL=1 adds the (untested) NCCL process group
// for a CUDA libtorch.
// Usage: node scripts/build_native.mjs [--force]   (npm runs it as the "install" script)
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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

/** Include folders and link flags of the libtorch that was found (as binding.gyp uses them). */
function libtorchFlags(found) {
  if (found.dir === '') return { includes: ['/usr/include', '/usr/include/torch/csrc/api/include'], libs: ['-ltorch', '-ltorch_cpu', '-lc10'] };
  const lib = join(found.dir, 'lib');
  return { includes: [join(found.dir, 'include'), join(found.dir, 'include', 'torch', 'csrc', 'api', 'include')], libs: [`-L${lib}`, `-Wl,-rpath,${lib}`, '-ltorch', '-ltorch_cpu', '-lc10'] };
}

// Uses what the addon's distributed part needs, so a libtorch built without Gloo fails here, not at load.
const PROBE = `#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
int main(int argc, char**) {
  if (argc > 5) {
    c10d::TCPStoreOptions o;
    auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, 0, 1, opts);
  }
  return 0;
}
`;

/** Whether the distributed part can be built: {ok: true} or {ok: false, reason}. */
function probeDistributed(found) {
  if (process.env.PROTOSEG_DISTRIBUTED === '0') return { ok: false, reason: 'PROTOSEG_DISTRIBUTED=0' };
  const { includes, libs } = libtorchFlags(found);
  const c10d = includes.map((i) => join(i, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')).find((p) => existsSync(p));
  if (c10d === undefined) return { ok: false, reason: 'this libtorch has no c10d headers (torch/csrc/distributed/c10d/ProcessGroupGloo.hpp)' };
  if (![...includes, '/usr/include'].some((i) => existsSync(join(i, 'gloo', 'config.h')))) return { ok: false, reason: 'Gloo headers not found: apt-get install libgloo-dev' };
  const dir = mkdtempSync(join(tmpdir(), 'protoseg-c10d-probe-'));
  try {
    writeFileSync(join(dir, 'probe.cc'), PROBE);
    const cxx = process.env.CXX || 'c++';
    const args = ['-std=c++17', '-DUSE_C10D_GLOO', ...includes.map((i) => `-I${i}`), join(dir, 'probe.cc'), '-o', join(dir, 'probe'), ...libs];
    const result = spawnSync(cxx, args, { encoding: 'utf8' });
    if (result.error) return { ok: false, reason: `could not run the C++ compiler "${cxx}" (${result.error.message})` };
    if (result.status !== 0) {
      const line = (result.stderr || '').split('\n').find((l) => /error|undefined reference/.test(l)) ?? 'see the compiler output';
      return { ok: false, reason: `a c10d/Gloo probe did not compile or link against this libtorch (${line.trim()})` };
    }
    return { ok: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether an existing build has the distributed part (loads it; undefined when it does not load). */
function builtWithDistributed() {
  try {
    return typeof createRequire(import.meta.url)(built).distInit === 'function';
  } catch {
    return undefined;
  }
}

const found = findLibtorch();
if (found === undefined || 'error' in found) {
  console.log(`protoseg: native backend skipped (${found?.error ?? 'libtorch not found: apt-get install libtorch-dev or set LIBTORCH_DIR'}); wasm stays the default.`);
  process.exit(0);
}
if (existsSync(built) && !process.argv.includes('--force')) {
  const hint = builtWithDistributed() === false && process.env.PROTOSEG_DISTRIBUTED !== '0' && existsSync('/usr/include/gloo/config.h') ? ' It has no distributed part although Gloo headers are present now: rebuild with --force to add it.' : '';
  console.log(`protoseg: native backend already built (${built}); pass --force to rebuild.${hint}`);
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
const distributed = probeDistributed(found);
if (distributed.ok) console.log('protoseg: distributed training support (c10d TCPStore + ProcessGroupGloo) included.');
else console.log(`protoseg: distributed training support skipped (${distributed.reason}); single-process training is unaffected.`);
console.log(`protoseg: building the native backend against libtorch ${found.label} ...`);
const env = { ...process.env, LIBTORCH_DIR: found.dir, PROTOSEG_DISTRIBUTED: distributed.ok ? '1' : '0' };
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
if (result.status !== 0) {
  // A failed optional build must not fail npm install: report and carry on with wasm.
  console.log('protoseg: native backend build FAILED (see the output above); wasm stays the default.');
  process.exit(0);
}
console.log(`protoseg: native backend built: ${built}`);
