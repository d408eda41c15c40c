/**
 * The shape every CLI command has: a table of flags (node:util parseArgs) and an action.
 * Commands are thin: they parse, then call the library.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ProtosegError, closestName } from '../errors.js';

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

export function usage(spec: CommandSpec): string {
  const flags = { ...spec.flags, ...COMMON_FLAGS };
  const lines = [`usage: protoseg ${spec.name}${spec.positionals ? ` ${spec.positionals}` : ''} [options]`, '', spec.summary, '', 'options:'];
  for (const [name, flag] of Object.entries(flags)) {
    const argument = flag.type === 'string' ? ` ${flag.argument ?? 'VALUE'}` : '';
    const short = flag.short ? `-${flag.short}, ` : '    ';
    lines.push(`  ${short}--${name}${argument}`.padEnd(34) + flag.description + (flag.default !== undefined ? ` (default: ${String(flag.default)})` : ''));
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

/** Parses argv for one command; unknown flags are a usage error naming the closest flag. */
export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, flag] of Object.entries({ ...spec.flags, ...COMMON_FLAGS })) {
    const { description: _description, argument: _argument, ...option } = flag;
    options[name] = option;
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
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
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg ${command}: --${name} expected a whole number in [${min}, ${max}], got "${raw}".`);
  }
  return value;
}
