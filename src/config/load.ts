/**
 * Loading a config: JSON files composed with "extends", `--set a.b=value` overrides, validation once,
 * and errors that name the key path, the bad value and what is accepted (or the closest valid key).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, closestName } from '../errors.js';
import { lossTermActive, configSchema, type Config, type LossConfigName } from './schema.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, everything else (arrays included) is replaced. */
export function mergeConfigs(base: JsonObject, override: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const existing = out[key];
    out[key] = isObject(existing) && isObject(value) ? mergeConfigs(existing, value) : value;
  }
  return out;
}

/** Keys holding a folder or file path: a relative value means relative to the config file that sets it. */
export const PATH_KEYS: readonly (readonly string[])[] = [
  ['data', 'source', 'root'],
  ['data', 'target', 'root'],
  ['data', 'fewShot', 'listFile'],
];
/** Split keys: a name ("train") or a list file path; only values with a path separator are paths. */
export const SPLIT_KEYS: readonly (readonly string[])[] = [
  ['data', 'source', 'trainSplit'],
  ['data', 'source', 'valSplit'],
  ['data', 'target', 'trainSplit'],
  ['data', 'target', 'valSplit'],
];

/** A copy of `config` with the string at `path` passed through `f` (when it is a string). */
function mapKey(config: JsonObject, path: readonly string[], f: (value: string) => string): JsonObject {
  const [head, ...rest] = path;
  const value = config[head!];
  if (rest.length === 0) return typeof value === 'string' ? { ...config, [head!]: f(value) } : config;
  return isObject(value) ? { ...config, [head!]: mapKey(value, rest, f) } : config;
}

/**
 * Makes the paths a config sets absolute, against `base` (the config file's folder, or the working
 * directory for --set): data roots and the few-shot list always; a split with a path separator when a
 * file exists there (else it stays as written, to be looked up in the dataset root).
 */
export function resolveConfigPaths(config: JsonObject, base: string): JsonObject {
  let out = config;
  for (const key of PATH_KEYS) out = mapKey(out, key, (v) => (isAbsolute(v) ? v : resolve(base, v)));
  for (const key of SPLIT_KEYS) {
    out = mapKey(out, key, (v) => (isAbsolute(v) || !/[\\/]/.test(v) || !existsSync(resolve(base, v)) ? v : resolve(base, v)));
  }
  return out;
}

/**
 * Reads a JSON config file and the files it `extends` (paths relative to it), merged in order.
 * Relative paths inside each file are resolved against that file's folder (resolveConfigPaths).
 */
export function readConfigFile(path: string, seen: string[] = []): JsonObject {
  const absolute = resolve(path);
  if (seen.includes(absolute)) {
    throw new ConfigError(`${path}: "extends" forms a cycle (${[...seen, absolute].join(' -> ')}). Remove one of the links.`);
  }
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch {
    throw new ConfigError(`${path}: config file not found. Check the path given to --config.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message}). Fix the syntax; NaN, Infinity and comments are not JSON.`);
  }
  if (!isObject(parsed)) throw new ConfigError(`${path}: expected a JSON object at the top level, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}.`);
  const { extends: parents, ...own } = parsed;
  const parentList = parents === undefined ? [] : Array.isArray(parents) ? parents : [parents];
  let merged: JsonObject = {};
  for (const parent of parentList) {
    if (typeof parent !== 'string') throw new ConfigError(`${path}: "extends" expected a file name or a list of them, got ${JSON.stringify(parent)}.`);
    merged = mergeConfigs(merged, readConfigFile(resolve(dirname(absolute), parent), [...seen, absolute]));
  }
  return mergeConfigs(merged, resolveConfigPaths(own, dirname(absolute)));
}

/** Parses the value of `--set key=value`: JSON when it parses (numbers, booleans, arrays), else a string. */
function parseSetValue(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw;
  }
}

/** Applies `a.b.c=value` overrides; the path is checked against the schema during validation. */
export function applyOverrides(config: JsonObject, sets: readonly string[]): JsonObject {
  let out = config;
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set "${set}": expected key.path=value, e.g. --set data.batchSize=8.`);
    const path = set.slice(0, eq).split('.');
    if (path.some((p) => p.length === 0)) throw new ConfigError(`--set "${set}": the key path has an empty part.`);
    let patch: Json = parseSetValue(set.slice(eq + 1));
    for (let i = path.length - 1; i >= 0; i--) patch = { [path[i]!]: patch };
    out = mergeConfigs(out, patch as JsonObject);
  }
  return out;
}

/** The object schema found at a key path, to list valid keys for an unrecognised one. */
function shapeAt(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = configSchema;
  for (const key of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) {
      const next = (schema.shape as Record<string, z.ZodType>)[String(key)];
      if (next === undefined) return [];
      schema = next;
    } else {
      return [];
    }
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (let i = 0; i < 8; i++) {
    const def = (current as unknown as { def: { innerType?: z.ZodType } }).def;
    if (def.innerType === undefined) break;
    current = def.innerType;
  }
  return current;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key as string];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One line per problem: "config key a.b: expected ..., got .... How to fix." */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown, source: string): string {
  const lines = issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const valid = shapeAt(issue.path);
      return issue.keys
        .map((k) => {
          const close = closestName(k, valid);
          const fullKey = [...issue.path.map(String), k].join('.');
          return `${source}: unknown config key "${fullKey}".${close ? ` Did you mean "${[...issue.path.map(String), close].join('.')}"?` : ''} Valid keys here: ${valid.join(', ')}.`;
        })
        .join('\n');
    }
    const got = describeValue(valueAt(input, issue.path));
    let expected = issue.message
      .replace(/^Invalid input: /, '')
      .replace(/^Too (small|big): /, '')
      .replace(/, received \w+$/, '');
    if (issue.code === 'invalid_value') expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    if (issue.code === 'too_small' && issue.origin !== 'array' && issue.origin !== 'string') expected = `a value ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    if (issue.code === 'too_big' && issue.origin !== 'array' && issue.origin !== 'string') expected = `a value ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    if (issue.code === 'invalid_type' && issue.expected === 'int') expected = 'a whole number';
    return `${source}: config key ${key}: expected ${expected.replace(/^expected /, '')}, got ${got}.`;
  });
  return lines.join('\n');
}

/**
 * One optimisation step of a method: the loss terms it can draw on. At least one of them must be active
 * whenever the step runs, else the step has no objective (trainStep would fail mid-run).
 */
export interface MethodStep {
  /** How messages name the step. */
  name: string;
  /** 'warmup': the supervised phase (train.steps); 'adapt': every adaptation epoch (train.epochs). */
  phase: 'warmup' | 'adapt';
  terms: readonly LossConfigName[];
}

const WARMUP_STEP: MethodStep = { name: 'supervised (warm-up) step', phase: 'warmup', terms: ['pixelCrossEntropy', 'cosineCrossEntropy'] };

/**
 * Per method, its steps and the losses each can use (mirrors what trainer.ts / proto_adapter.ts compute).
 * A method name without an entry does not compile: add one with each new method.
 */
export const METHOD_STEPS: Record<Config['method'], readonly MethodStep[]> = {
  // The default's one adaptation step always holds its source terms (checked with the warm-up) and adapt.losses.
  pcs: [WARMUP_STEP],
  'pcs-seed': [
    WARMUP_STEP,
    { name: 'adaptation source step', phase: 'adapt', terms: ['pixelCrossEntropy', 'cosineCrossEntropy', 'protoNce', 'crossDomainEntropy', 'mimEntropy'] },
    { name: 'adaptation target step', phase: 'adapt', terms: ['maxSquares', 'protoNce', 'crossDomainEntropy', 'mimEntropy', 'mimDiversity'] },
  ],
  'max-squares': [
    WARMUP_STEP,
    { name: 'adaptation source step', phase: 'adapt', terms: ['pixelCrossEntropy', 'cosineCrossEntropy'] },
    { name: 'adaptation target step', phase: 'adapt', terms: ['maxSquares'] },
  ],
  'source-only': [WARMUP_STEP],
  'source-oracle': [WARMUP_STEP],
  'target-oracle': [WARMUP_STEP],
  adabn: [WARMUP_STEP],
};

/** Whether a loss contributes in adaptation epoch `epoch` (enabled, weight > 0, epoch in [fromEpoch, untilEpoch)). */
export function lossActiveInEpoch(config: Config, name: LossConfigName, epoch: number): boolean {
  return lossTermActive(config.pcs.losses[name], epoch);
}

/**
 * Rules across keys that the schema cannot express: every step of the chosen method must have an
 * active loss term. Returns one message per problem (empty when the config is consistent).
 */
export function methodProblems(config: Config, source: string): string[] {
  const problems: string[] = [];
  const key = (name: LossConfigName): string => `pcs.losses.${name}`;
  for (const step of METHOD_STEPS[config.method]) {
    if (step.phase === 'warmup') {
      // The supervised step uses its terms whenever they are enabled (weights and epochs do not apply).
      if (!step.terms.some((t) => config.pcs.losses[t].enabled)) {
        problems.push(
          `${source}: config key ${step.terms.map((t) => `${key(t)}.enabled`).join(' / ')}: method "${config.method}" expected at least one loss of its ${step.name} enabled, got none. ` +
            `Enable one, e.g. --set ${key(step.terms[0]!)}.enabled=true.`,
        );
      }
      continue;
    }
    // Activity changes only at the losses' fromEpoch/untilEpoch bounds: checking those epochs covers all.
    const epochs = new Set([0]);
    for (const t of step.terms) for (const e of [config.pcs.losses[t].fromEpoch, config.pcs.losses[t].untilEpoch]) epochs.add(e);
    const empty = [...epochs].filter((e) => e < config.train.epochs).sort((a, b) => a - b).find((e) => !step.terms.some((t) => lossActiveInEpoch(config, t, e)));
    if (empty !== undefined) {
      const off = step.terms.filter((t) => !lossActiveInEpoch(config, t, empty));
      problems.push(
        `${source}: config key ${off.map((t) => key(t)).join(' / ')}: method "${config.method}" expected an active loss term (enabled, weight > 0, epoch in [fromEpoch, untilEpoch)) in its ${step.name} in every adaptation epoch, got none in epoch ${empty}. ` +
          `Enable one (e.g. --set ${key(step.terms[0]!)}.enabled=true), or choose another method (e.g. --set method=source-only).`,
      );
    }
  }
  return problems;
}

/** Validates a raw config object; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, raw, source));
  const problems = methodProblems(result.data, source);
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return result.data;
}

export interface ResolveConfigOptions {
  /** Config file (JSON; may "extends" others). */
  file?: string;
  /** `a.b=value` overrides, applied after the file. */
  sets?: readonly string[];
}

/** File + overrides -> validated config with every default filled in. Nothing runs before this passes. */
export function resolveConfig(options: ResolveConfigOptions = {}): Config {
  const fromFile = options.file !== undefined ? readConfigFile(options.file) : {};
  // A relative path given with --set is relative to where the command runs.
  const raw = resolveConfigPaths(applyOverrides(fromFile, options.sets ?? []), process.cwd());
  const source = options.file ?? (options.sets?.length ? '--set' : 'config');
  return validateConfig(raw, source);
}
