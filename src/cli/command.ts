/**
 * The shape every CLI command has: a table of flags (node:util parseArgs) and an action.
 * Commands are thin: they parse, then call the library.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ProtosegError, closestName, unknownName } from '../errors.js';
import type { BackendChoice } from '../kernels/backend.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; argument?: string };

export interface CommandSpec {
  /** e.g. "data check" for a sub-command. */
  name: string;
  summary: string;
  /** Positional arguments in the usage line, e.g. "IMAGE_OR_DIR...". */
  positionals?: string;
  flags: Record<string, FlagSpec>;
  run(parsed: ParsedCommand): Promise<number | void>;
}

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Flags every command accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress bars or periodic log lines' },
  verbose: { type: 'boolean', description: 'print stack traces of internal errors' },
};

/** Width help text is wrapped to. */
export const HELP_WIDTH = 100;
/** Column where flag descriptions start; longer flag names put their description on the next line. */
const FLAG_COLUMN = 34;

/** Splits one line into lines of at most `width` characters at spaces (a longer word stays whole). */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/ +/)) {
    if (current !== '' && indent.length + current.length + 1 + word.length > width) {
      lines.push(indent + current);
      current = word;
    } else {
      current = current === '' ? word : `${current} ${word}`;
    }
  }
  lines.push(indent + current);
  return lines;
}

export function usage(spec: CommandSpec): string {
  const flags = { ...spec.flags, ...COMMON_FLAGS };
  const lines = [`usage: protoseg ${spec.name}${spec.positionals ? ` ${spec.positionals}` : ''} [options]`, ''];
  // The summary is reflowed: single line breaks in the source are spaces, blank lines separate paragraphs.
  spec.summary.split(/\n\s*\n/).forEach((paragraph, i) => lines.push(...(i > 0 ? [''] : []), ...wrapText(paragraph.replace(/\s*\n\s*/g, ' '), HELP_WIDTH)));
  lines.push('', 'options:');
  const pad = ' '.repeat(FLAG_COLUMN);
  for (const [name, flag] of Object.entries(flags)) {
    const argument = flag.type === 'string' ? ` ${flag.argument ?? 'VALUE'}` : '';
    const short = flag.short ? `-${flag.short}, ` : '    ';
    const left = `  ${short}--${name}${argument}`;
    const description = flag.description + (flag.default !== undefined ? ` (default: ${String(flag.default)})` : '');
    const wrapped = wrapText(description, HELP_WIDTH, pad);
    // Two spaces at least between the flag and its description, else the description starts below it.
    if (left.length + 2 <= FLAG_COLUMN) lines.push(left.padEnd(FLAG_COLUMN) + wrapped[0]!.slice(FLAG_COLUMN), ...wrapped.slice(1));
    else lines.push(left, ...wrapped);
  }
  return lines.join('\n');
}

/** node:util's parse errors, rewritten in one line: an unknown flag names the closest declared one. */
function describeParseError(error: NodeJS.ErrnoException, flags: readonly string[]): string {
  const message = error.message.split('\n')[0]!.trim();
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const match = /option '(-{1,2})([^'=]*)/i.exec(message);
    const given = match ? match[2]! : '';
    const close = given.length > 1 || match?.[1] === '--' ? closestName(given, flags) : undefined;
    return `unknown flag "${match ? match[1]! + given : message}".${close ? ` Did you mean "--${close}"?` : ''}`;
  }
  return message.endsWith('.') ? message : `${message}.`;
}

/**
 * `--max-images -3` -> `--max-images=-3`: node:util takes a value that starts with "-" for a flag and
 * refuses it as ambiguous; a negative number after a flag that takes a value is that flag's value, so
 * the range check can say what is accepted.
 */
function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const takesValue = (token: string): boolean => {
    if (token.startsWith('--')) return !token.includes('=') && options[token.slice(2)]?.type === 'string';
    if (/^-[A-Za-z]$/.test(token)) return Object.values(options).some((o) => o.short === token.slice(1) && o.type === 'string');
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const next = argv[i + 1];
    if (next !== undefined && takesValue(token) && /^-(\d|\.\d)/.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

/** Parses argv for one command; unknown flags are a usage error naming the closest flag. */
export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, flag] of Object.entries({ ...spec.flags, ...COMMON_FLAGS })) {
    const { description: _description, argument: _argument, ...option } = flag;
    options[name] = option;
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg ${spec.name}: ${describeParseError(error as NodeJS.ErrnoException, Object.keys(options))} Run "protoseg ${spec.name} --help" for the options.`);
  }
  // A stray word is usually a forgotten flag name; ignoring it would hide the mistake.
  if (spec.positionals === undefined && parsed.positionals.length > 0 && parsed.values['help'] !== true) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg ${spec.name}: unexpected argument "${parsed.positionals[0]}" (this command takes only --flags). Run "protoseg ${spec.name} --help" for the options.`);
  }
  return { values: parsed.values as ParsedCommand['values'], positionals: parsed.positionals };
}

export function stringFlag(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function requireStringFlag(parsed: ParsedCommand, command: string, name: string): string {
  const value = stringFlag(parsed, name);
  if (value === undefined) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg ${command}: --${name} is required. Run "protoseg ${command} --help".`);
  }
  return value;
}

/** Parses an integer flag, rejecting anything that is not a whole number in [min, max]. */
export function intFlag(parsed: ParsedCommand, command: string, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg ${command}: --${name} expected a whole number ${range}, got "${raw}".`);
  }
  return value;
}

// Listed here (not imported) so that flag parsing does not load the tensor stack; the check below fails
// to compile when kernels/backend.ts gains a choice missing from this list.
export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'node', 'native'] as const satisfies readonly BackendChoice[];
const allBackendsListed: Exclude<BackendChoice, (typeof BACKEND_CHOICES)[number]> extends never ? true : false = true;
void allBackendsListed;

/** The most intra-op threads --threads accepts (the config schema's bound for `threads`). */
export const MAX_THREADS = 256;

/** --backend and --threads, the same on every command that runs a model. */
export function runtimeFlags(defaults: string): Record<'backend' | 'threads', FlagSpec> {
  return {
    backend: { type: 'string', argument: 'NAME', description: `tensor backend: ${BACKEND_CHOICES.join(', ')} (default: ${defaults})` },
    threads: { type: 'string', argument: 'N', description: `intra-op threads of the native backend, 0 = all cores (default: ${defaults})` },
  };
}

/** --backend NAME, checked against the backends initBackend knows; an unknown name suggests the closest. */
export function backendFlag(parsed: ParsedCommand, command: string): BackendChoice | undefined {
  const raw = stringFlag(parsed, 'backend');
  if (raw === undefined) return undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(raw)) {
    throw new ProtosegError('PROTOSEG_USAGE', unknownName(`protoseg ${command} --backend`, raw, BACKEND_CHOICES).message);
  }
  return raw as BackendChoice;
}

/** --threads N (0 = all cores). */
export function threadsFlag(parsed: ParsedCommand, command: string): number | undefined {
  return stringFlag(parsed, 'threads') === undefined ? undefined : intFlag(parsed, command, 'threads', 0, 0, MAX_THREADS);
}
