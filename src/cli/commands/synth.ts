/**
 * protoseg synth: writes the built-in two-domain benchmark (source in Cityscapes layout, target in
 * GTA5 layout) to --out. A thin layer over generateBenchmark.
 */
import { resolve } from 'node:path';
import { ProtosegError } from '../../errors.js';
import { SHIFT_KINDS, type ShiftKind } from '../../data/synth/appearance.js';
import { DEFAULT_SYNTH_OPTIONS, generateBenchmark, type SynthOptions } from '../../data/synth/benchmark.js';
import { intFlag, requireStringFlag, stringFlag, type CommandSpec, type ParsedCommand } from '../command.js';
import { cliProgress } from '../output.js';

const d = DEFAULT_SYNTH_OPTIONS;
const MAX_IMAGES = 99999;

/** Parses "HxW" (both multiples of 32, 32..4096). */
export function parseSize(raw: string): { height: number; width: number } {
  const match = /^(\d+)x(\d+)$/i.exec(raw.trim());
  const height = match ? Number(match[1]) : NaN;
  const width = match ? Number(match[2]) : NaN;
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 32 && n <= 4096 && n % 32 === 0;
  if (!ok(height) || !ok(width)) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg synth: --size expected HxW with H and W multiples of 32 between 32 and 4096 (e.g. 64x128), got "${raw}".`);
  }
  return { height, width };
}

/** Turns parsed flags into generator options; bad values are PROTOSEG_USAGE errors saying what is accepted. */
export function synthOptionsFromFlags(parsed: ParsedCommand): SynthOptions & { out: string } {
  const out = resolve(requireStringFlag(parsed, 'synth', 'out'));
  const size = parseSize(stringFlag(parsed, 'size') ?? `${d.height}x${d.width}`);
  const val = intFlag(parsed, 'synth', 'val', d.sourceVal, 0, MAX_IMAGES);
  const target = intFlag(parsed, 'synth', 'target', d.targetTrain, 0, MAX_IMAGES);
  if (target + val > MAX_IMAGES) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg synth: expected --target + --val at most ${MAX_IMAGES} (5-digit GTA5 names), got ${target + val}.`);
  }
  const shiftRaw = stringFlag(parsed, 'shift');
  const shift = shiftRaw === undefined ? d.shift : Number(shiftRaw);
  if (shiftRaw !== undefined && (shiftRaw.trim() === '' || !(shift >= 0 && shift <= 1))) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg synth: --shift expected a number in [0, 1], got "${shiftRaw}".`);
  }
  const shiftKind = stringFlag(parsed, 'shift-kind') ?? d.shiftKind;
  if (!(SHIFT_KINDS as readonly string[]).includes(shiftKind)) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg synth: --shift-kind expected one of ${SHIFT_KINDS.join(', ')}, got "${shiftKind}".`);
  }
  return {
    out,
    shiftKind: shiftKind as ShiftKind,
    seed: intFlag(parsed, 'synth', 'seed', d.seed, 0, 0xffffffff),
    ...size,
    sourceTrain: intFlag(parsed, 'synth', 'source', d.sourceTrain, 0, MAX_IMAGES),
    sourceVal: val,
    targetTrain: target,
    targetVal: val,
    shift,
  };
}

export const synthCommand: CommandSpec = {
  name: 'synth',
  summary:
    'Writes the built-in two-domain benchmark: street scenes with all 19 Cityscapes classes, the source ("real")\n' +
    'in Cityscapes layout (DIR/source), the target ("synthetic") in GTA5 layout (DIR/target), and DIR/benchmark.json.\n' +
    'The same options always give the same files. An earlier benchmark in DIR is replaced.',
  flags: {
    out: { type: 'string', argument: 'DIR', description: 'output folder (required)' },
    seed: { type: 'string', argument: 'N', description: 'seed of the scenes', default: String(d.seed) },
    size: { type: 'string', argument: 'HxW', description: 'image size, multiples of 32', default: `${d.height}x${d.width}` },
    source: { type: 'string', argument: 'N', description: 'source train images', default: String(d.sourceTrain) },
    target: { type: 'string', argument: 'N', description: 'target train images', default: String(d.targetTrain) },
    val: { type: 'string', argument: 'N', description: 'val images per domain', default: String(d.sourceVal) },
    shift: { type: 'string', argument: 'S', description: 'domain-shift strength in [0, 1] (0: same look, 1: the full shift of its kind)', default: String(d.shift) },
    'shift-kind': { type: 'string', argument: 'KIND', description: 'realistic (another rendering style and colour grade; every class stays nearest its own look) or permuted (every class wears another class\'s look: a stress test)', default: d.shiftKind },
  },
  async run(parsed) {
    const options = synthOptionsFromFlags(parsed);
    const quiet = parsed.values['quiet'] === true;
    const started = performance.now();
    const info = await generateBenchmark(options, cliProgress(quiet));
    const seconds = (performance.now() - started) / 1000;
    const o = info.options;
    console.log(`protoseg synth: wrote ${o.sourceTrain + o.sourceVal + o.targetTrain + o.targetVal} image/label pairs in ${seconds.toFixed(1)} s (seed ${o.seed}, ${o.height}x${o.width}, ${o.shiftKind} shift ${o.shift})`);
    console.log(`  source, Cityscapes layout: ${resolve(info.dir, 'source')}  (train ${o.sourceTrain}, val ${o.sourceVal})`);
    console.log(`  target, GTA5 layout:       ${resolve(info.dir, 'target')}  (train ${o.targetTrain}, val ${o.targetVal}; splits/train.txt, splits/val.txt)`);
    console.log(`  manifest:                  ${resolve(info.dir, 'benchmark.json')}`);
    return 0;
  },
};
