/**
 * What an experiment runs: arms (a name and config overrides, usually a method) x seeds on one base
 * config. From a JSON spec file (configs/experiments/*.json) or from flags (--methods, --seeds).
 * Everything is validated before any run starts: every arm x seed resolves to a valid config, so an
 * unknown method, key or shift kind is one line naming it and what is accepted.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { METHOD_NAMES, type Config } from '../config/schema.js';
import { ProtosegError, unknownName } from '../errors.js';

export interface ArmSpec {
  name: string;
  /** Config overrides (key path -> JSON value), applied after the experiment's own `set`. */
  set: Record<string, unknown>;
}

export interface ExperimentSpec {
  description?: string;
  /** Base config file (absolute); undefined: the built-in default. */
  config?: string;
  seeds: number[];
  arms: ArmSpec[];
  /** Overrides common to every arm. */
  set: Record<string, unknown>;
  /** Arm the paired deltas are taken against. */
  baseline: string;
  /** Arms whose gap "gap closed (%)" measures (from -> to), when both exist. */
  gap?: { from: string; to: string };
}

/** One run of the grid: an arm at a seed, with its fully resolved config. */
export interface PlannedRun {
  arm: string;
  seed: number;
  config: Config;
  /** Hash of the resolved config: a finished run is reused only when it matches. */
  configHash: string;
}

function specError(where: string, message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_CONFIG_INVALID', `${where}: ${message}`);
}

/** "0,1,2" or "0-4" (inclusive) -> distinct non-negative integers in order. */
export function parseSeeds(raw: string, where = '--seeds'): number[] {
  const seeds: number[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from || to - from > 1000) throw specError(where, `expected a seed range FROM-TO with FROM <= TO (at most 1000 seeds), got "${part}".`);
      for (let s = from; s <= to; s++) seeds.push(s);
    } else if (/^\d+$/.test(part)) {
      seeds.push(Number(part));
    } else {
      throw specError(where, `expected a comma-separated list of non-negative whole numbers or ranges (e.g. 0,1,2 or 0-4), got "${raw}".`);
    }
  }
  if (seeds.length === 0) throw specError(where, `expected at least one seed, got "${raw}".`);
  const duplicate = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (duplicate !== undefined) throw specError(where, `expected distinct seeds, got ${duplicate} twice in "${raw}".`);
  return seeds;
}

/** Method names as arms, each named after its method. Unknown names list the accepted ones. */
export function armsFromMethods(raw: string, where = '--methods'): ArmSpec[] {
  const names = raw.split(',').map((n) => n.trim()).filter((n) => n.length > 0);
  if (names.length === 0) throw specError(where, `expected a comma-separated list of methods (${METHOD_NAMES.join(', ')}), got "${raw}".`);
  return names.map((name) => {
    if (!(METHOD_NAMES as readonly string[]).includes(name)) throw unknownName(where, name, METHOD_NAMES);
    return { name, set: { method: name } };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks an experiment spec file (config paths are relative to the file). */
export function readExperimentSpec(path: string): ExperimentSpec {
  if (!existsSync(path)) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `${path}: expected an experiment spec file, got no file there. See configs/experiments/ for examples.`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw specError(path, `expected JSON, got a parse error (${(error as Error).message}). Fix the file.`);
  }
  if (!isRecord(raw)) throw specError(path, 'expected a JSON object with "arms" (and optionally "config", "seeds", "baseline", "gap", "set", "description").');
  const known = new Set(['description', 'config', 'seeds', 'arms', 'set', 'baseline', 'gap']);
  for (const key of Object.keys(raw)) if (!known.has(key)) throw specError(path, `unknown key "${key}"; expected one of ${[...known].join(', ')}.`);
  if (!Array.isArray(raw['arms']) || raw['arms'].length === 0) throw specError(path, 'expected "arms": a non-empty list of {"name": ..., "set": {...}}.');
  const arms = raw['arms'].map((arm, i): ArmSpec => {
    if (!isRecord(arm) || typeof arm['name'] !== 'string' || arm['name'].trim() === '') throw specError(`${path} arms[${i}]`, 'expected {"name": "<non-empty>", "set": {"key.path": value, ...}}.');
    if (arm['set'] !== undefined && !isRecord(arm['set'])) throw specError(`${path} arms[${i}].set`, 'expected an object of config key paths to values.');
    for (const key of Object.keys(arm)) if (key !== 'name' && key !== 'set') throw specError(`${path} arms[${i}]`, `unknown key "${key}"; expected name and set.`);
    return { name: arm['name'], set: (arm['set'] as Record<string, unknown> | undefined) ?? {} };
  });
  const seeds = raw['seeds'] === undefined ? [0, 1, 2, 3, 4] : Array.isArray(raw['seeds']) ? parseSeeds(raw['seeds'].join(','), `${path} seeds`) : parseSeeds(String(raw['seeds']), `${path} seeds`);
  if (raw['set'] !== undefined && !isRecord(raw['set'])) throw specError(`${path} set`, 'expected an object of config key paths to values.');
  const gap = raw['gap'];
  if (gap !== undefined && !(isRecord(gap) && typeof gap['from'] === 'string' && typeof gap['to'] === 'string')) throw specError(`${path} gap`, 'expected {"from": "<arm>", "to": "<arm>"}.');
  const spec: ExperimentSpec = {
    ...(typeof raw['description'] === 'string' ? { description: raw['description'] } : {}),
    ...(typeof raw['config'] === 'string' ? { config: resolve(dirname(path), raw['config']) } : {}),
    seeds,
    arms,
    set: (raw['set'] as Record<string, unknown> | undefined) ?? {},
    baseline: typeof raw['baseline'] === 'string' ? raw['baseline'] : arms[0]!.name,
    ...(gap !== undefined ? { gap: gap as { from: string; to: string } } : {}),
  };
  checkSpec(spec, path);
  return spec;
}

/** Arm names are distinct, and baseline / gap name arms. */
export function checkSpec(spec: ExperimentSpec, where: string): void {
  const names = spec.arms.map((a) => a.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw specError(where, `expected distinct arm names, got "${duplicate}" twice.`);
  const check = (key: string, name: string): void => {
    if (!names.includes(name)) throw specError(where, `${key} "${name}" is not an arm; expected one of ${names.join(', ')}.`);
  };
  check('baseline', spec.baseline);
  if (spec.gap) {
    check('gap.from', spec.gap.from);
    check('gap.to', spec.gap.to);
  }
}

/** The default gap: source-only -> target-oracle when both are arms. */
export function defaultGap(arms: readonly ArmSpec[]): { from: string; to: string } | undefined {
  const names = arms.map((a) => a.name);
  return names.includes('source-only') && names.includes('target-oracle') ? { from: 'source-only', to: 'target-oracle' } : undefined;
}

function setArgs(set: Record<string, unknown>): string[] {
  return Object.entries(set).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

/** Folder-safe slug of an arm name. */
export function armSlug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase() || 'arm';
}

/**
 * Every arm x seed with its resolved config: the seed sets the initialisation and the labelled subset
 * (`seed` and `data.fewShot.seed`), `threads` the native threads of each run. Throws the config
 * loader's one-line error (naming the arm) for an invalid override.
 */
export function planRuns(spec: ExperimentSpec, extraSets: readonly string[], threads: number): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const slugs = new Map<string, string>();
  for (const arm of spec.arms) {
    const slug = armSlug(arm.name);
    const other = slugs.get(slug);
    if (other !== undefined) throw specError('experiment', `arms "${other}" and "${arm.name}" share the folder name "${slug}"; rename one.`);
    slugs.set(slug, arm.name);
    for (const seed of spec.seeds) {
      const sets = [...setArgs(spec.set), ...extraSets, ...setArgs(arm.set), `seed=${seed}`, `data.fewShot.seed=${seed}`, `threads=${threads}`];
      let config: Config;
      try {
        config = resolveConfig({ ...(spec.config !== undefined ? { file: spec.config } : {}), sets });
      } catch (error) {
        if (error instanceof ProtosegError) throw new ProtosegError(error.code, `experiment arm "${arm.name}": ${error.message}`);
        throw error;
      }
      const configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
      runs.push({ arm: arm.name, seed, config, configHash });
    }
  }
  return runs;
}
