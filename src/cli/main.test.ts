/**
 * In-process CLI tests: dispatch, help, unknown commands and flags, and that every declared flag of
 * every command reaches the command (style.md: "Every declared flag reaches the config, and a test
 * checks this"). Nothing here loads a model; the end-to-end runs are in src/e2e/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { main } from './main.js';
import { HELP_WIDTH, parseCommand, usage, type CommandSpec, type ParsedCommand } from './command.js';
import { experimentCommand, experimentOptionsFromFlags } from './commands/experiment.js';
import { launchOptionsFromFlags, trainCommand } from './commands/train.js';
import { evalCommand, evalOptionsFromFlags, formatMetricsTable } from './commands/eval.js';
import { collectImages, predictCommand, predictOptionsFromFlags } from './commands/predict.js';
import { synthCommand, synthOptionsFromFlags } from './commands/synth.js';
import { dataCheckCommand } from './commands/data_check.js';
import { reportCommand } from './commands/report.js';
import { exportCommand, exportOptionsFromFlags } from './commands/export.js';
import { ProtosegError } from '../errors.js';
import { encodePng } from '../data/png.js';
import { buildGta5Tree, buildCityscapesTree, makeTempDir, removeTempDir, patternRgb, writeRgbPngFile } from '../test_utils/fixtures.js';

const COMMANDS: Record<string, CommandSpec> = {
  train: trainCommand,
  eval: evalCommand,
  predict: predictCommand,
  export: exportCommand,
  synth: synthCommand,
  'data check': dataCheckCommand,
  report: reportCommand,
  experiment: experimentCommand,
};

interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs main() with console output captured (progress is silenced with --quiet by the callers). */
async function cli(argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const parse = (spec: CommandSpec, argv: string[]): ParsedCommand => parseCommand(spec, argv);
const usageError = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && pattern.test(e.message);

let dir = '';
before(async () => {
  dir = await makeTempDir('protoseg-cli-');
});
after(async () => {
  await removeTempDir(dir);
});

describe('dispatch and help', () => {
  it('--help and help exit 0 with the command list; no command exits 1 with it', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await cli(argv);
      assert.equal(r.code, 0, argv.join(' '));
      for (const name of Object.keys(COMMANDS)) assert.ok(r.out.includes(name), `summary lists ${name}`);
    }
    const none = await cli([]);
    assert.equal(none.code, 1);
    assert.match(none.out, /usage: protoseg <command>/);
  });

  it('every command answers --help with exit 0 and lists each of its flags', async () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      const r = await cli([...name.split(' '), '--help']);
      assert.equal(r.code, 0, name);
      assert.equal(r.out, usage(spec));
      for (const flag of Object.keys(spec.flags)) assert.ok(r.out.includes(`--${flag}`), `${name} --help lists --${flag}`);
    }
  });

  it('help text fits its columns: lines of at most HELP_WIDTH, a flag never runs into its description', () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      const text = usage(spec);
      for (const line of text.split('\n')) {
        assert.ok(line.length <= HELP_WIDTH, `${name}: ${line.length} > ${HELP_WIDTH}: "${line}"`);
        // An options line starting with a flag has two spaces before its description, or ends after the flag.
        const flag = /^ {2}(?:-\w, | {4})--[\w-]+(?: \S+)?/.exec(line);
        if (flag) assert.ok(line.length === flag[0].length || line.slice(flag[0].length).startsWith('  '), `${name}: "${line}"`);
      }
    }
    // The case the issue names: the --dataset description used to be glued to its argument.
    assert.doesNotMatch(usage(evalCommand), /syntheticevaluate/);
  });

  it('a command group answers --help with the usage of its commands (exit 0); alone it is an unknown command', async () => {
    for (const argv of [['data', '--help'], ['data', '-h'], ['data', 'help']]) {
      const r = await cli(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.equal(r.out, usage(dataCheckCommand));
      assert.equal(r.err, '');
    }
  });

  it('an unknown command exits 1 naming the closest command, in one line', async () => {
    const cases: [string[], string][] = [
      [['trian'], 'train'],
      [['evl', '--run', 'x'], 'eval'],
      [['predcit'], 'predict'],
      [['data', 'chek'], 'data check'],
      [['data'], 'data check'],
      [['synht'], 'synth'],
    ];
    for (const [argv, closest] of cases) {
      const r = await cli(argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.equal(r.err.split('\n').length, 1, r.err);
      assert.match(r.err, /^error PROTOSEG_USAGE: unknown command/);
      assert.ok(r.err.includes(`Did you mean "${closest}"?`), `${argv.join(' ')} -> ${r.err}`);
    }
    const far = await cli(['zzzzzzzz']);
    assert.equal(far.code, 1);
    assert.doesNotMatch(far.err, /Did you mean/);
  });

  it('an unknown flag exits 1 naming the closest declared flag, for every flag of every command', async () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      for (const flag of Object.keys(spec.flags)) {
        // One doubled letter: edit distance 1 from the flag.
        const typo = flag.length > 2 ? flag.slice(0, 2) + flag[1] + flag.slice(2) : `${flag}${flag.at(-1)}`;
        const r = await cli([...name.split(' '), `--${typo}`]);
        assert.equal(r.code, 1, `${name} --${typo}`);
        assert.equal(r.err.split('\n').length, 1, r.err);
        assert.ok(r.err.includes(`unknown flag "--${typo}". Did you mean "--${flag}"?`), `${name} --${typo}: ${r.err}`);
      }
    }
  });

  it('a stray positional argument is rejected by commands that take none', async () => {
    const r = await cli(['eval', 'run1', '--json']);
    assert.equal(r.code, 1);
    assert.match(r.err, /unexpected argument "run1"/);
    assert.throws(() => parse(trainCommand, ['config.json']), usageError(/unexpected argument "config.json"/));
    // predict and report declare positionals.
    assert.deepEqual(parse(predictCommand, ['--out', 'o', 'a.png', 'b']).positionals, ['a.png', 'b']);
  });

  it('a string flag without its value is a usage error', () => {
    assert.throws(() => parse(evalCommand, ['--run']), usageError(/--run/));
  });
});

describe('every declared flag parses', () => {
  it('each command accepts all of its flags at once', () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      const argv: string[] = [];
      for (const [flag, f] of Object.entries(spec.flags)) argv.push(`--${flag}`, ...(f.type === 'string' ? [f.multiple ? 'a=1' : 'v'] : []));
      const parsed = parse(spec, argv);
      for (const [flag, f] of Object.entries(spec.flags)) {
        const value = parsed.values[flag];
        if (f.type === 'boolean') assert.equal(value, true, `${name} --${flag}`);
        else assert.deepEqual(value, f.multiple ? ['a=1'] : 'v', `${name} --${flag}`);
      }
    }
  });
});

/**
 * For each command, one case per declared flag showing the flag reaches what the command runs
 * with. A flag added to a command without a case here fails the coverage test below.
 */
type FlagCase = () => Promise<void> | void;
const FLAG_CASES: Record<string, Record<string, FlagCase>> = {
  train: {
    config: async () => {
      const file = join(dir, 'tiny.json');
      await writeFile(file, JSON.stringify({ data: { batchSize: 3 }, seed: 11 }));
      const config = await printConfig(['--config', file]);
      assert.equal(config.data.batchSize, 3);
      assert.equal(config.seed, 11);
    },
    set: async () => {
      const config = await printConfig(['--set', 'seed=7', '--set', 'model.encoder.widths=[8,16,32]', '--set', 'pcs.kList=[19]']);
      assert.equal(config.seed, 7);
      assert.deepEqual(config.model.encoder.widths, [8, 16, 32]);
      assert.deepEqual(config.pcs.kList, [19]);
    },
    backend: async () => {
      assert.equal((await printConfig(['--backend', 'cpu'])).backend, 'cpu');
      // --backend wins over --set backend=..., as it is applied last.
      assert.equal((await printConfig(['--set', 'backend=wasm', '--backend', 'cpu'])).backend, 'cpu');
      // A bad value is reported as the flag the user typed, not as a --set config key.
      const bad = await cli(['train', '--print-config', '--backend', 'gpu']);
      assert.equal(bad.code, 1);
      assert.equal(bad.err, 'error PROTOSEG_USAGE: protoseg train --backend: expected one of "auto", "wasm", "cpu", "node", "native", got "gpu". Did you mean "cpu"?');
    },
    threads: async () => {
      assert.equal((await printConfig(['--threads', '1'])).threads, 1);
      const bad = await cli(['train', '--print-config', '--threads', '-2']);
      assert.equal(bad.code, 1);
      assert.equal(bad.err, 'error PROTOSEG_USAGE: protoseg train: --threads expected a whole number in [0, 256], got "-2".');
    },
    'print-config': async () => {
      const r = await cli(['train', '--print-config']);
      assert.equal(r.code, 0);
      const config = JSON.parse(r.out);
      assert.equal(config.method, 'pcs');
      assert.equal(typeof config.train.steps, 'number');
    },
    resume: async () => {
      const r = await cli(['train', '--resume', '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--resume: expected --out RUN_DIR/);
    },
    'nproc-per-node': () => {
      const launch = (argv: string[]) => launchOptionsFromFlags(parse(trainCommand, argv), '/runs/r', '/bin/protoseg.js');
      assert.equal(launch([]), undefined);
      const o = launch(['--nproc-per-node', '2', '--set', 'seed=3', '--backend', 'wasm', '--resume', '--quiet'])!;
      assert.equal(o.nprocPerNode, 2);
      // Every rank runs the same train command minus the launcher's flags, with the shared run directory.
      assert.deepEqual(o.args, ['/bin/protoseg.js', 'train', '--set', 'seed=3', '--backend', 'wasm', '--resume', '--quiet', '--out', '/runs/r']);
      assert.throws(() => launch(['--nproc-per-node', '0']), usageError(/--nproc-per-node expected a whole number in \[1, 1024\], got "0"/));
    },
    nnodes: () => {
      const launch = (argv: string[]) => launchOptionsFromFlags(parse(trainCommand, argv), 'r', 's');
      assert.equal(launch(['--nproc-per-node', '2', '--nnodes', '3', '--master-addr', 'h'])!.nnodes, 3);
      assert.throws(() => launch(['--nnodes', '2']), usageError(/--nnodes only goes with --nproc-per-node N/));
    },
    'node-rank': () => {
      const launch = (argv: string[]) => launchOptionsFromFlags(parse(trainCommand, argv), 'r', 's');
      assert.equal(launch(['--nproc-per-node', '2', '--node-rank', '1'])!.nodeRank, 1);
      assert.throws(() => launch(['--nproc-per-node', '2', '--node-rank', '1.5']), usageError(/--node-rank expected a whole number/));
    },
    'master-addr': () => {
      const launch = (argv: string[]) => launchOptionsFromFlags(parse(trainCommand, argv), 'r', 's');
      assert.equal(launch(['--nproc-per-node', '1', '--master-addr', '10.0.0.5'])!.masterAddr, '10.0.0.5');
      assert.equal(launch(['--nproc-per-node', '1'])!.masterAddr, undefined);
    },
    'master-port': () => {
      const launch = (argv: string[]) => launchOptionsFromFlags(parse(trainCommand, argv), 'r', 's');
      assert.equal(launch(['--nproc-per-node', '1', '--master-port', '29555'])!.masterPort, 29555);
      assert.throws(() => launch(['--nproc-per-node', '1', '--master-port', '70000']), usageError(/--master-port expected a whole number in \[1, 65535\], got "70000"/));
    },
    out: async () => {
      const runDir = join(dir, 'no-run-here');
      const r = await cli(['train', '--resume', '--out', runDir, '--quiet', '--backend', 'wasm']);
      assert.equal(r.code, 1);
      assert.match(r.err, /PROTOSEG_CHECKPOINT_INVALID/);
      assert.ok(r.err.includes(runDir), r.err);
    },
  },
  eval: {
    statistics: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r1', '--statistics', 'source'])).statistics, 'source');
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r1'])).statistics, undefined);
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r1', '--statistics', 'targte'])), usageError(/--statistics: expected one of "source", "target", got "targte"\. Did you mean "target"\?/));
    },
    run: () => assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r1'])).run, resolve('r1')),
    checkpoint: () => assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--checkpoint', 'c.ckpt'])).checkpoint, resolve('c.ckpt')),
    which: () => {
      // The final model by default: what the run ended with, not the warm-up that source val picked.
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r'])).which, 'latest');
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--which', 'best'])).which, 'best');
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--which', 'latest'])).which, 'latest');
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--which', 'newest'])), usageError(/--which expected "best" or "latest", got "newest"/));
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--checkpoint', 'c', '--which', 'latest'])), usageError(/--which chooses a checkpoint inside --run/));
    },
    dataset: () => {
      const o = evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'gta5', '--root', 'g']));
      assert.equal(o.dataset, 'gta5');
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'gta', '--root', 'g'])), usageError(/Did you mean "gta5"/));
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'folder', '--root', 'g'])), usageError(/labelled layout/));
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'synthetic'])).dataset, 'synthetic');
    },
    root: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'cityscapes', '--root', 'cs'])).root, resolve('cs'));
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'cityscapes'])), usageError(/expected --root DIR/));
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--root', 'cs'])), usageError(/without --dataset/));
    },
    split: () => assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'gta5', '--root', 'g', '--split', 'test'])).split, 'test'),
    'label-type': () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'cityscapes', '--root', 'c', '--label-type', 'labelTrainIds'])).labelType, 'labelTrainIds');
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--dataset', 'gta5', '--root', 'g', '--label-type', 'labelTrainIds'])), usageError(/cityscapes only/));
    },
    predictions: () => {
      const o = evalOptionsFromFlags(parse(evalCommand, ['--predictions', 'p', '--dataset', 'gta5', '--root', 'g']));
      assert.equal(o.predictions, resolve('p'));
      assert.equal(o.run, undefined);
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--predictions', 'p', '--run', 'r', '--dataset', 'gta5', '--root', 'g'])), usageError(/without a model/));
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--predictions', 'p'])), usageError(/expected --dataset and --root/));
    },
    json: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--json'])).json, true);
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r'])).json, false);
    },
    scale: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--scale', '0.5'])).scale, 0.5);
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--scale', '0'])), usageError(/--scale expected a number in \(0, 4\], got "0"/));
    },
    'max-images': () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--max-images', '3'])).maxImages, 3);
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r'])).maxImages, undefined);
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--max-images=-1'])), usageError(/--max-images expected a whole number >= 0, got "-1"/));
      // A negative number after the flag is its value (node:util alone calls it "ambiguous").
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--max-images', '-3'])), usageError(/^protoseg eval: --max-images expected a whole number >= 0, got "-3"\.$/));
    },
    backend: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--backend', 'cpu'])).backend, 'cpu');
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--backend', 'wsam'])), usageError(/Did you mean "wasm"/));
    },
    threads: () => {
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--threads', '1'])).threads, 1);
      assert.equal(evalOptionsFromFlags(parse(evalCommand, ['--run', 'r'])).threads, undefined);
      assert.throws(() => evalOptionsFromFlags(parse(evalCommand, ['--run', 'r', '--threads', 'two'])), usageError(/--threads expected a whole number in \[0, 256\], got "two"/));
    },
  },
  predict: {
    statistics: () => {
      assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--statistics', 'source', 'x.png'])).statistics, 'source');
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--statistics', 'both', 'x.png'])), usageError(/--statistics: expected one of "source", "target", got "both"/));
    },
    checkpoint: () => assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--checkpoint', 'c', '--out', 'o', 'x.png'])).checkpoint, resolve('c')),
    run: () => {
      assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', 'x.png'])).run, resolve('r'));
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--out', 'o', 'x.png'])), usageError(/expected --run RUN_DIR or --checkpoint FILE/));
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--checkpoint', 'c', '--out', 'o', 'x.png'])), usageError(/got both/));
    },
    which: () => {
      assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', 'x.png'])).which, 'latest');
      assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--which', 'best', '--out', 'o', 'x.png'])).which, 'best');
    },
    out: () => {
      const o = predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', 'x.png', 'dir']));
      assert.equal(o.out, resolve('o'));
      assert.deepEqual(o.inputs, ['x.png', 'dir']);
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', 'x.png'])), usageError(/--out is required/));
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o'])), usageError(/expected image files or folders/));
    },
    scale: () => {
      assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--scale', '0.5', 'x.png'])).scale, 0.5);
      assert.deepEqual(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--scale', '64x128', 'x.png'])).scale, { height: 64, width: 128 });
      assert.throws(() => predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--scale', 'big', 'x.png'])), usageError(/--scale expected a factor in \(0, 4\]/));
    },
    backend: () => assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--backend', 'wasm', 'x.png'])).backend, 'wasm'),
    threads: () => assert.equal(predictOptionsFromFlags(parse(predictCommand, ['--run', 'r', '--out', 'o', '--threads', '2', 'x.png'])).threads, 2),
  },
  experiment: {
    methods: () => {
      assert.deepEqual(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'source-only,pcs'])).spec.arms.map((a) => a.name), ['source-only', 'pcs']);
      assert.throws(() => experimentOptionsFromFlags(parse(experimentCommand, [])), usageError(/exactly one of --methods LIST or --spec FILE/));
    },
    spec: () => assert.throws(() => experimentOptionsFromFlags(parse(experimentCommand, ['--spec', 'no/such.json'])), /no\/such\.json: expected an experiment spec file/),
    config: () => assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--config', 'c.json'])).spec.config, resolve('c.json')),
    seeds: () => assert.deepEqual(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--seeds', '0-2'])).spec.seeds, [0, 1, 2]),
    baseline: () => {
      assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'source-only,pcs', '--baseline', 'pcs'])).spec.baseline, 'pcs');
      assert.throws(() => experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--baseline', 'x'])), /baseline "x" is not an arm/);
    },
    set: () => assert.deepEqual(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--set', 'seed=3'])).sets, ['seed=3']),
    jobs: () => assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--jobs', '3'])).jobs, 3),
    threads: () => assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--threads', '1'])).threads, 1),
    reuse: () => assert.deepEqual(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--reuse', 'a.json', '--reuse', 'b.json'])).reuse, [resolve('a.json'), resolve('b.json')]),
    out: () => {
      assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--out', 'e'])).out, resolve('e'));
      // Without --out, the same arguments give the same folder (so the same command continues the experiment).
      const a = experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs'])).out;
      assert.equal(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs'])).out, a);
      assert.notEqual(experimentOptionsFromFlags(parse(experimentCommand, ['--methods', 'pcs', '--seeds', '1'])).out, a);
    },
  },
  export: {
    checkpoint: () => assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--checkpoint', 'c', '--format', 'onnx', '--out', 'm.onnx'])).checkpoint, resolve('c')),
    run: () => {
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'web', '--out', 'w'])).run, resolve('r'));
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--format', 'web', '--out', 'w'])), usageError(/protoseg export: expected --run RUN_DIR or --checkpoint FILE/));
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--checkpoint', 'c', '--format', 'web', '--out', 'w'])), usageError(/got both/));
    },
    which: () => assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--which', 'latest', '--format', 'web', '--out', 'w'])).which, 'latest'),
    format: () => {
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm.onnx'])).format, 'onnx');
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'web', '--out', 'w'])).format, 'web');
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onxx', '--out', 'm'])), usageError(/--format: expected one of "onnx", "web", got "onxx". Did you mean "onnx"\?/));
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--out', 'm'])), usageError(/--format is required/));
    },
    out: () => {
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm.onnx'])).out, resolve('m.onnx'));
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx'])), usageError(/--out is required/));
    },
    scale: () => {
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm', '--scale', '0.5'])).scale, 0.5);
      assert.deepEqual(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm', '--scale', '64x128'])).scale, { height: 64, width: 128 });
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm'])).scale, undefined);
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm', '--scale', 'big'])), usageError(/^protoseg export: --scale expected a factor in \(0, 4\]/));
    },
    backend: () => {
      assert.equal(exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm', '--backend', 'wasm'])).backend, 'wasm');
      assert.throws(() => exportOptionsFromFlags(parse(exportCommand, ['--run', 'r', '--format', 'onnx', '--out', 'm', '--backend', 'wsam'])), usageError(/Did you mean "wasm"/));
    },
  },
  synth: {
    out: () => assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's'])).out, resolve('s')),
    seed: () => assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--seed', '5'])).seed, 5),
    size: () => assert.deepEqual(pick(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--size', '32x64'])), ['height', 'width']), { height: 32, width: 64 }),
    source: () => assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--source', '3'])).sourceTrain, 3),
    target: () => assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--target', '4'])).targetTrain, 4),
    val: () => assert.deepEqual(pick(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--val', '2'])), ['sourceVal', 'targetVal']), { sourceVal: 2, targetVal: 2 }),
    shift: () => assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--shift', '0.25'])).shift, 0.25),
    'shift-kind': () => {
      assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's', '--shift-kind', 'permuted'])).shiftKind, 'permuted');
      assert.equal(synthOptionsFromFlags(parse(synthCommand, ['--out', 's'])).shiftKind, 'realistic');
    },
  },
  'data check': {
    dataset: async () => {
      const r = await cli(['data', 'check', '--dataset', 'gta', '--root', gta5Root, '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /Did you mean "gta5"/);
    },
    root: async () => {
      const report = await dataCheckJson(['--dataset', 'gta5', '--root', gta5Root]);
      assert.equal(report.root, gta5Root);
      assert.equal(report.pairs, 3);
    },
    split: async () => {
      await mkdir(join(gta5Root, 'splits'), { recursive: true });
      await writeFile(join(gta5Root, 'splits', 'two.txt'), '00001\n00003\n');
      assert.equal((await dataCheckJson(['--dataset', 'gta5', '--root', gta5Root, '--split', 'two'])).pairs, 2);
    },
    'label-type': async () => {
      // Make one _labelTrainIds file all ignore: only --label-type labelTrainIds reads it.
      const { readdir } = await import('node:fs/promises');
      const labelDir = join(cityscapesRoot, 'gtFine', 'val', 'lindau');
      const trainIdFile = (await readdir(labelDir)).find((f) => f.endsWith('_labelTrainIds.png'))!;
      await writeFile(join(labelDir, trainIdFile), encodePng({ width: 16, height: 8, channels: 1, data: new Uint8Array(128).fill(255) }));
      const asTrainIds = await dataCheckJson(['--dataset', 'cityscapes', '--root', cityscapesRoot, '--split', 'val', '--label-type', 'labelTrainIds']);
      const asIds = await dataCheckJson(['--dataset', 'cityscapes', '--root', cityscapesRoot, '--split', 'val']);
      assert.equal(asTrainIds.ignorePixels, 128);
      assert.equal(asIds.ignorePixels, 0);
    },
    json: async () => {
      const r = await cli(['data', 'check', '--dataset', 'gta5', '--root', gta5Root, '--quiet']);
      assert.equal(r.code, 0);
      assert.throws(() => JSON.parse(r.out));
      assert.equal(typeof (await dataCheckJson(['--dataset', 'gta5', '--root', gta5Root])).pairs, 'number');
    },
  },
  // Out-of-range values are rejected before any work, which shows the flag reached the command.
  report: {
    images: async () => {
      const r = await cli(['report', join(dir, 'some-run'), '--images', '999', '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--images/);
    },
    backend: async () => {
      const r = await cli(['report', join(dir, 'some-run'), '--backend', 'tpu', '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--backend/);
    },
    threads: async () => {
      const r = await cli(['report', join(dir, 'some-run'), '--threads', '1000', '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--threads expected a whole number in \[0, 256\], got "1000"/);
    },
    which: async () => {
      const r = await cli(['report', join(dir, 'some-run'), '--which', 'first', '--quiet']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--which expected "latest" or "best", got "first"/);
    },
  },
};

let gta5Root = '';
let cityscapesRoot = '';

function pick<T extends object>(o: T, keys: (keyof T)[]): Partial<T> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Partial<T>;
}

async function printConfig(argv: string[]): Promise<{ seed: number; backend: string; threads: number; method: string; data: { batchSize: number }; model: { encoder: { widths: number[] } }; pcs: { kList: number[] }; train: { steps: number } }> {
  const r = await cli(['train', '--print-config', ...argv]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

async function dataCheckJson(argv: string[]): Promise<{ root: string; pairs: number; ignorePixels: number }> {
  const r = await cli(['data', 'check', ...argv, '--json', '--quiet']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

describe('every declared flag reaches the command', () => {
  before(async () => {
    gta5Root = join(dir, 'gta5');
    cityscapesRoot = join(dir, 'cityscapes');
    await buildGta5Tree(gta5Root, 3);
    await buildCityscapesTree(cityscapesRoot, { val: { lindau: 2 } });
  });

  it('has a case for every flag of every command', () => {
    assert.deepEqual(Object.keys(FLAG_CASES).sort(), Object.keys(COMMANDS).sort());
    for (const [name, spec] of Object.entries(COMMANDS)) {
      assert.deepEqual(Object.keys(FLAG_CASES[name]!).sort(), Object.keys(spec.flags).sort(), `flag cases of ${name}`);
    }
  });

  for (const [name, cases] of Object.entries(FLAG_CASES)) {
    for (const [flag, run] of Object.entries(cases)) {
      it(`${name} --${flag}`, async () => {
        await run();
      });
    }
  }
});

describe('eval --predictions in process (no model)', () => {
  it('scores perfect predictions as 100 mIoU and prints the table or the JSON object', async () => {
    const root = join(dir, 'gta5-perfect');
    await buildGta5Tree(root, 2, { width: 16, height: 8, block: 4 });
    const preds = join(dir, 'preds-perfect');
    // blockScene seeds 1 and 2: the train ids of each GTA5 label, written as predictions.
    const { blockScene } = await import('../test_utils/fixtures.js');
    for (const [i, id] of ['00001', '00002'].entries()) {
      const scene = blockScene(16, 8, 4, i + 1);
      await mkdir(preds, { recursive: true });
      await writeFile(join(preds, `${id}_trainIds.png`), encodePng({ width: 16, height: 8, channels: 1, data: scene.trainIds }));
    }
    // No val list in the tree: --split all says "every pair" explicitly.
    const json = await cli(['eval', '--predictions', preds, '--dataset', 'gta5', '--root', root, '--split', 'all', '--json', '--quiet']);
    assert.equal(json.code, 0, json.err);
    const m = JSON.parse(json.out);
    assert.deepEqual(Object.keys(m).sort(), ['confusion', 'images', 'mIoU', 'perClassIoU', 'pixelAccuracy']);
    assert.equal(m.mIoU, 100);
    assert.equal(m.images, 2);
    assert.equal(m.confusion.length, 19);
    const limited = JSON.parse((await cli(['eval', '--predictions', preds, '--dataset', 'gta5', '--root', root, '--split', 'all', '--json', '--quiet', '--max-images', '1'])).out);
    assert.equal(limited.images, 1);
    const table = await cli(['eval', '--predictions', preds, '--dataset', 'gta5', '--root', root, '--split', 'all', '--quiet']);
    assert.equal(table.code, 0);
    assert.match(table.out, /^road\s+(100\.00|-)$/m);
    assert.match(table.out, /^mIoU\s+100\.00$/m);
    assert.match(table.out, /^pixel accuracy\s+100\.00$/m);
  });

  it('a missing prediction file exits 1 naming it', async () => {
    const root = join(dir, 'gta5-missing');
    await buildGta5Tree(root, 1);
    const preds = join(dir, 'preds-empty');
    await mkdir(preds, { recursive: true });
    const r = await cli(['eval', '--predictions', preds, '--dataset', 'gta5', '--root', root, '--split', 'all', '--quiet']);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(join(preds, '00001_trainIds.png')), r.err);
  });

  it('a GTA5 root without a val list needs --split: no silent scoring of train and val together', async () => {
    const root = join(dir, 'gta5-no-val');
    await buildGta5Tree(root, 2);
    const r = await cli(['eval', '--predictions', join(dir, 'preds-empty'), '--dataset', 'gta5', '--root', root, '--quiet']);
    assert.equal(r.code, 1);
    assert.equal(r.err.split('\n').length, 1, r.err);
    assert.match(r.err, /expected --split \(there is no val list at .*splits\/val\.txt or .*gta5-no-val\/val\.txt\).*--split all to score every pair/);
  });
});

describe('formatMetricsTable', () => {
  it('prints one column per split, "-" for absent classes', () => {
    const perClassIoU = Object.fromEntries(['road', 'sidewalk'].map((n) => [n, n === 'road' ? 50 : null]));
    const m = { mIoU: 50, perClassIoU, pixelAccuracy: 75, images: 3, confusion: [] };
    const text = formatMetricsTable([{ title: 'source', metrics: m }, { title: 'target', metrics: { ...m, mIoU: 25 } }]);
    assert.match(text, /^road\s+50\.00\s+50\.00$/m);
    assert.match(text, /^sidewalk\s+-\s+-$/m);
    assert.match(text, /^mIoU\s+50\.00\s+25\.00$/m);
    assert.match(text, /^images\s+3\s+3$/m);
  });
});

describe('predict input collection', () => {
  it('walks folders for .png/.jpg/.jpeg (sorted), skips the output folder, rejects other files and empty folders', async () => {
    const root = join(dir, 'predict-inputs');
    await writeRgbPngFile(join(root, 'b.png'), 4, 4, patternRgb(4, 4));
    await writeRgbPngFile(join(root, 'sub', 'a.png'), 4, 4, patternRgb(4, 4));
    await writeRgbPngFile(join(root, 'out', 'old_trainIds.png'), 4, 4, patternRgb(4, 4));
    await writeFile(join(root, 'notes.txt'), 'x');
    await writeFile(join(root, 'c.JPG'), 'not decoded here');
    const found = collectImages([root], join(root, 'out'));
    assert.deepEqual(found, [join(root, 'b.png'), join(root, 'c.JPG'), join(root, 'sub', 'a.png')]);
    assert.throws(() => collectImages([join(root, 'notes.txt')], join(dir, 'o')), usageError(/expected a \.png, \.jpg or \.jpeg image/));
    assert.throws(() => collectImages([join(root, 'nope')], join(dir, 'o')), usageError(/got nothing at/));
    assert.throws(() => collectImages([join(root, 'out')], join(root, 'out')), usageError(/output folder .* is skipped/));
    await mkdir(join(root, 'empty'), { recursive: true });
    assert.throws(() => collectImages([join(root, 'empty')], join(dir, 'o')), usageError(/expected \.png\/\.jpg\/\.jpeg images in the folder/));
  });
});
