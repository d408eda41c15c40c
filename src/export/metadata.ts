/**
 * What an exported model says about itself (ONNX metadata_props, the web page's model.js): class
 * names and palette, the protoseg version, a hash of the run's resolved config, and the baked-in
 * pre-processing.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CLASSES } from '../data/label_maps.js';
import type { ExportMetadata } from './graph.js';

export type { ExportMetadata };

/** JSON with object keys sorted at every level, so equal configs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Hex SHA-256 of canonicalJson(config). */
export function configSha256(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

let cachedVersion: string | undefined;

/** The version in protoseg's package.json. */
export function protosegVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

export function classNames(): string[] {
  return CLASSES.map((c) => c.name);
}

export function classPalette(): Array<[number, number, number]> {
  return CLASSES.map((c) => [...c.color] as [number, number, number]);
}
