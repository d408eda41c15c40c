#!/usr/bin/env node
// How OpenMP's wait policy changes native (libtorch) speed on an idle and on a busy machine.
// For each policy (OMP_WAIT_POLICY / GOMP_SPINCOUNT as set in the child's environment before the addon
// loads), thread count and load (0, 1 or more busy-loop processes), runs in a fresh child either
//   --workload step: the small-UNet training step of bench/native_unet.mjs (median seconds per step), or
//   --workload eval: `protoseg eval --run R` of a default-config run on the built-in benchmark (60 + 60
//                    val images, one at a time; wall seconds of the whole command), with wasm alongside.
// Policies and loads are interleaved round by round, so a change in the machine's own load hits them
// all alike.
// Needs `npm run build` and the addon (node scripts/build_native.mjs). Not a test.
// Usage: node bench/omp_wait_policy.mjs [--workload step|eval] [--rounds 3] [--steps 20] [--threads 2[,1]] [--loads 0,1]
//        [--policies default,ACTIVE,PASSIVE,spin10000]
// "default" sets neither variable: libgomp's own default (spin ~300k iterations, then sleep), which is
// what a library user of the addon gets; the protoseg CLI sets OMP_WAIT_POLICY=PASSIVE unless it is set.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '2' },
    loads: { type: 'string', default: '0,1' },
    policies: { type: 'string', default: 'default,ACTIVE,PASSIVE' },
    workload: { type: 'string', default: 'step' },
  },
});
if (opts.workload !== 'step' && opts.workload !== 'eval') throw new Error(`--workload: expected step or eval, got "${opts.workload}"`);
const rounds = Number(opts.rounds);
const threadCounts = opts.threads.split(',').map(Number);
const loads = opts.loads.split(',').map(Number);
const policies = opts.policies.split(',');

/** The child's OpenMP environment for a policy name: "default" sets nothing (protoseg's own default applies). */
function policyEnv(name) {
  const env = { ...process.env };
  delete env.OMP_WAIT_POLICY;
  delete env.GOMP_SPINCOUNT;
  if (name === 'ACTIVE' || name === 'PASSIVE') env.OMP_WAIT_POLICY = name;
  else if (name.startsWith('spin')) env.GOMP_SPINCOUNT = name.slice(4);
  else if (name !== 'default' && name !== 'wasm') throw new Error(`--policies: expected default, ACTIVE, PASSIVE, spinN or wasm, got "${name}"`);
  return env;
}

/** A default-config run (one training step) for the eval workload, trained once on wasm. */
function prepareEvalRun() {
  const dir = mkdtempSync(join(tmpdir(), 'protoseg-omp-bench-'));
  const runDir = join(dir, 'run');
  const r = spawnSync(process.execPath, [join(root, 'bin/protoseg.js'), 'train', '--config', join(root, 'configs/benchmark_source-only.json'), '--set', 'train.steps=1', '--backend', 'wasm', '--out', runDir, '--quiet'], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`preparing the eval run failed (${r.status}):\n${r.stderr}`);
  return { dir, runDir };
}

/** Wall seconds of `protoseg eval --run R` ("wasm": on wasm; otherwise native with the policy's environment). */
function measureEval(runDir, policy, threads) {
  const backend = policy === 'wasm' ? ['--backend', 'wasm'] : ['--backend', 'native', '--threads', String(threads)];
  // The CLI sets PASSIVE when nothing is set; "default" here means libgomp's own default, so say it explicitly.
  const env = policyEnv(policy === 'default' ? 'spin300000' : policy === 'wasm' ? 'PASSIVE' : policy);
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/protoseg.js'), 'eval', '--run', runDir, '--json', '--quiet', ...backend], { encoding: 'utf8', env, cwd: root });
  if (r.status !== 0) throw new Error(`eval failed (${r.status}):\n${r.stderr}`);
  return (performance.now() - t) / 1000;
}

function measure(policy, threads) {
  const args = [join(root, 'bench/native_unet.mjs'), '--config', 'small', '--skip-torch', '--steps', opts.steps, '--warmup', '3', '--threads', String(threads)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...policyEnv(policy), NATIVE_UNET_CHILD: '1' } });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || line === undefined) throw new Error(`native_unet child failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(line).secondsPerStep;
}

/** Busy-loop processes competing for the cores (the load of "other processes running"). */
function startLoad(n) {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

const results = new Map();
const evalRun = opts.workload === 'eval' ? prepareEvalRun() : undefined;
const measureOne = (policy, threads) => (evalRun !== undefined ? measureEval(evalRun.runDir, policy, threads) : measure(policy, threads));
console.log(
  opts.workload === 'eval'
    ? `protoseg eval --run R (default model, built-in benchmark, 60 + 60 val images), wall seconds; ${rounds} rounds; load average at start ${loadavg()[0].toFixed(2)}`
    : `small UNet (16-32-64-128, batch 4 x 64x128) training step on native, ${opts.threads} thread(s), median of ${opts.steps} steps per child; ${rounds} rounds; load average at start ${loadavg()[0].toFixed(2)}`,
);
for (let round = 0; round < rounds; round++) {
  for (const load of loads) {
    const busy = startLoad(load);
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (const policy of policies) {
        for (const threads of policy === 'wasm' ? [1] : threadCounts) {
          const key = `${policy} ${threads}t|${load}`;
          const s = measureOne(policy, threads);
          results.set(key, [...(results.get(key) ?? []), s]);
        }
      }
    } finally {
      for (const p of busy) p.kill('SIGKILL');
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const width = 16 + 9 * rounds;
const header = ['policy, threads', ...loads.map((l) => `${l} busy process${l === 1 ? '' : 'es'}: median (each round)`)];
console.log(`\n${header.map((h) => h.padEnd(width)).join('')}`);
for (const policy of policies) {
  for (const threads of policy === 'wasm' ? [1] : threadCounts) {
    const cells = loads.map((l) => {
      const xs = results.get(`${policy} ${threads}t|${l}`);
      return `${median(xs).toFixed(3)} s (${xs.map((x) => x.toFixed(3)).join(', ')})`;
    });
    console.log([`${policy}, ${threads}`, ...cells].map((c) => c.padEnd(width)).join(''));
  }
}
console.log(`load average at end ${loadavg()[0].toFixed(2)}`);
if (evalRun !== undefined) rmSync(evalRun.dir, { recursive: true, force: true });
