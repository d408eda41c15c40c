/**
 * Loading a config: JSON files composed with "extends", `--set a.b=value` overrides, validation once,
 * and errors that name the key path, the bad value and what is accepted (or the closest valid key).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, closestName } from '../errors.js';
import { configSchema, type Config } from './schema.js';

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

/** Reads a JSON config file and the files it `extends` (paths relative to it), merged in order. */
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
  return mergeConfigs(merged, own);
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

/** Validates a raw config object; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, raw, source));
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
  const raw = applyOverrides(fromFile, options.sets ?? []);
  const source = options.file ?? (options.sets?.length ? '--set' : 'config');
  return validateConfig(raw, source);
}
