/**
 * protoseg's command line: dispatch, help, and the one place errors become exit codes
 * (0 success, 1 user error with a message that says how to fix it, 2 internal error).
 */
import { ProtosegError, closestName } from '../errors.js';
import { parseCommand, usage, type CommandSpec } from './command.js';

/** Command name -> lazy loader, so `protoseg synth` does not load the training stack. */
const COMMANDS: Record<string, () => Promise<CommandSpec>> = {
  train: async () => (await import('./commands/train.js')).trainCommand,
  eval: async () => (await import('./commands/eval.js')).evalCommand,
  predict: async () => (await import('./commands/predict.js')).predictCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  synth: async () => (await import('./commands/synth.js')).synthCommand,
  'data check': async () => (await import('./commands/data_check.js')).dataCheckCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  experiment: async () => (await import('./commands/experiment.js')).experimentCommand,
};

const SUMMARY = `protoseg: few-shot unsupervised domain adaptation for semantic segmentation

usage: protoseg <command> [options]     (protoseg <command> --help for its options)

commands:
  train       train a model (default: the pcs method on the built-in benchmark)
  eval        evaluate a run or checkpoint (mIoU, per-class IoU, pixel accuracy)
  predict     write colour and trainId PNGs for images
  export      write a trained model as ONNX, or as a web page that segments images offline
  synth       write the built-in two-domain benchmark to disk
  data check  integrity report of a dataset folder
  report      (re)write RUN_DIR/report.html
  experiment  run methods x seeds and report mean ± std, paired deltas with 95% intervals`;

/** Splits argv into the command name (one or two words) and its arguments. */
export function resolveCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  const [first, second] = argv;
  if (first === undefined) return undefined;
  if (second !== undefined && COMMANDS[`${first} ${second}`] !== undefined) return { name: `${first} ${second}`, rest: argv.slice(2) };
  return { name: first, rest: argv.slice(1) };
}

/** The command a mistyped one most likely meant: two-word commands are matched on both words. */
export function closestCommand(argv: readonly string[]): string | undefined {
  const [first = '', second] = argv;
  const names = Object.keys(COMMANDS);
  const twoWord = second !== undefined ? closestName(`${first} ${second}`, names.filter((n) => n.includes(' '))) : undefined;
  return twoWord ?? closestName(first, names) ?? names.find((n) => n.startsWith(`${first} `));
}

/**
 * OpenMP's wait policy for the native backend's threads, applied before any command loads the addon
 * (libgomp reads it once, when libtorch loads). PASSIVE: idle threads sleep instead of spinning, which
 * costs a little on an idle machine and saves several-fold on a busy one (bench/omp_wait_policy.mjs,
 * figures in the README). A policy (or GOMP_SPINCOUNT) the user set wins.
 */
export const DEFAULT_OMP_WAIT_POLICY = 'PASSIVE';

export async function main(argv: string[]): Promise<number> {
  if (process.env['OMP_WAIT_POLICY'] === undefined && process.env['GOMP_SPINCOUNT'] === undefined) process.env['OMP_WAIT_POLICY'] = DEFAULT_OMP_WAIT_POLICY;
  const verbose = argv.includes('--verbose');
  try {
    const resolved = resolveCommand(argv);
    if (resolved === undefined || resolved.name === '--help' || resolved.name === '-h' || resolved.name === 'help') {
      console.log(SUMMARY);
      return resolved === undefined ? 1 : 0;
    }
    if (resolved.name === '--version') {
      console.log('0.1.0');
      return 0;
    }
    const load = COMMANDS[resolved.name];
    const group = Object.keys(COMMANDS).filter((name) => name.startsWith(`${resolved.name} `));
    if (load === undefined && group.length > 0 && resolved.rest.some((a) => a === '--help' || a === '-h' || a === 'help')) {
      // `protoseg data --help`: the usage of every command of the group.
      const specs = await Promise.all(group.map((name) => COMMANDS[name]!()));
      console.log(specs.map((spec) => usage(spec)).join('\n\n'));
      return 0;
    }
    if (load === undefined) {
      const close = closestCommand(argv);
      throw new ProtosegError('PROTOSEG_USAGE', `unknown command "${resolved.name}".${close ? ` Did you mean "${close}"?` : ''} Run "protoseg --help" for the list.`);
    }
    const spec = await load();
    const parsed = parseCommand(spec, resolved.rest);
    if (parsed.values['help'] === true) {
      console.log(usage(spec));
      return 0;
    }
    const code = await spec.run(parsed);
    return code ?? 0;
  } catch (error) {
    return reportError(error, verbose);
  }
}

/** Prints one line for user errors (code + message), the stack too for internal ones. */
export function reportError(error: unknown, verbose: boolean): number {
  if (error instanceof ProtosegError && error.isUserError) {
    console.error(`error ${error.code}: ${error.message}`);
    if (verbose && error.stack) console.error(error.stack);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`internal error: ${message}`);
  if (verbose && error instanceof Error && error.stack) console.error(error.stack);
  else console.error('(run again with --verbose for the stack trace, and please report it)');
  return 2;
}
