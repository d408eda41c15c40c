/**
 * `protoseg predict`: writes `<name>_color.png` (Cityscapes palette) and `<name>_trainIds.png` per
 * image, at the image's own size (the network runs at --scale, its logits are resized back).
 * A thin layer over eval/predict.ts writePredictions.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { isImageFile } from '../../data/image_io.js';
import { ProtosegError } from '../../errors.js';
import { requireStringFlag, runtimeFlags, stringFlag, type CommandSpec, type ParsedCommand } from '../command.js';
import { cliProgress } from '../output.js';
import { STATISTICS_FLAG, loadCliModel, modelSourceFromFlags, statisticsFlag, type ModelSourceOptions } from './eval.js';

export interface PredictCliOptions extends ModelSourceOptions {
  out: string;
  /** BN statistics of a run that keeps one set per domain (default target: predictions are for target data). */
  statistics?: 'source' | 'target';
  /** A factor of the image size, or an explicit network size. Default: the config's eval.scale. */
  scale?: number | { height: number; width: number };
  /** Image files and folders, as given. */
  inputs: string[];
  quiet: boolean;
}

/** "0.5" (a factor in (0, 4]) or "HxW" (an explicit network size). */
export function parseScale(raw: string): number | { height: number; width: number } {
  const size = /^(\d+)x(\d+)$/i.exec(raw.trim());
  if (size) {
    const height = Number(size[1]);
    const width = Number(size[2]);
    if (height >= 1 && width >= 1 && height <= 8192 && width <= 8192) return { height, width };
  } else {
    const value = Number(raw);
    if (raw.trim() !== '' && value > 0 && value <= 4) return value;
  }
  throw new ProtosegError('PROTOSEG_USAGE', `protoseg predict: --scale expected a factor in (0, 4] (e.g. 0.5) or a size HxW (e.g. 512x1024), got "${raw}".`);
}

export function predictOptionsFromFlags(parsed: ParsedCommand): PredictCliOptions {
  const source = modelSourceFromFlags(parsed, 'predict', true);
  const out = resolve(requireStringFlag(parsed, 'predict', 'out'));
  const scaleRaw = stringFlag(parsed, 'scale');
  if (parsed.positionals.length === 0) {
    throw new ProtosegError('PROTOSEG_USAGE', 'protoseg predict: expected image files or folders after the options, got none. Example: protoseg predict --run RUN --out preds images/');
  }
  const statistics = statisticsFlag(parsed, 'predict');
  return { ...source, out, ...(statistics !== undefined ? { statistics } : {}), ...(scaleRaw !== undefined ? { scale: parseScale(scaleRaw) } : {}), inputs: [...parsed.positionals], quiet: parsed.values['quiet'] === true };
}

/**
 * The image files named by the inputs: files as given, folders walked recursively for
 * .png/.jpg/.jpeg (sorted, hidden entries and the output folder skipped).
 */
export function collectImages(inputs: readonly string[], outDir: string): string[] {
  const out = resolve(outDir);
  const found: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Earlier predictions must not be predicted again when --out sits inside an input folder.
      if (path === out) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && isImageFile(entry.name)) found.push(path);
    }
  };
  for (const input of inputs) {
    const path = resolve(input);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new ProtosegError('PROTOSEG_USAGE', `protoseg predict: expected an image file or folder, got nothing at "${input}". Check the path.`);
    }
    if (isDir) {
      const before = found.length;
      if (path !== out) walk(path);
      if (found.length === before) {
        const rel = relative(process.cwd(), out);
        const note = path === out || out.startsWith(path + sep) ? ` (the output folder ${rel || '.'} is skipped)` : '';
        throw new ProtosegError('PROTOSEG_USAGE', `protoseg predict: expected .png/.jpg/.jpeg images in the folder "${input}", got none${note}. Pass a folder that holds images.`);
      }
    } else if (isImageFile(path)) {
      found.push(path);
    } else {
      throw new ProtosegError('PROTOSEG_USAGE', `protoseg predict: expected a .png, .jpg or .jpeg image, got "${input}". Convert it to PNG, or pass its folder.`);
    }
  }
  return found;
}

export async function runPredict(o: PredictCliOptions): Promise<number> {
  // Inputs are checked before the model loads, so a typo fails at once.
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg predict: --out expected a folder for the predictions, got the existing file ${o.out}. Pass a folder (it is created if needed).`);
  }
  const images = collectImages(o.inputs, o.out);
  const log = o.quiet ? () => {} : (line: string) => console.log(line);
  const loaded = await loadCliModel(o, (line) => console.error(`warning: ${line}`));
  try {
    const { writePredictions } = await import('../../eval/predict.js');
    const model = loaded.model;
    const { statisticsDomainFor } = await import('../../adaptation/methods/registry.js');
    model.setStatisticsDomain(statisticsDomainFor(loaded.config, o.statistics ?? 'target'));
    const predictLogits = (images: tf.Tensor4D): tf.Tensor4D => model.predictLogits(images);
    log(loaded.description);
    log(`backend: ${loaded.backend}`);
    if (loaded.note !== undefined) log(loaded.note);
    if (model.statisticsDomain === 'target' && !model.hasTargetStatistics) log('BN statistics: this checkpoint has no target statistics yet (written before adaptation began), so its source statistics are used');
    const failures: { path: string; message: string }[] = [];
    const written = await writePredictions(predictLogits, images.map((path) => ({ path })), o.out, {
      scale: o.scale ?? loaded.config.eval.scale,
      stride: model.outputStride,
      normalization: model.inputNormalization,
      progress: cliProgress(o.quiet),
      // One unreadable image must not cost the others their predictions: all failures are listed at the end.
      onFailure: (path, error) => failures.push({ path, message: error.message.includes(path) ? error.message : `${path}: ${error.message}` }),
    });
    const first = written[0];
    log(
      `protoseg predict: wrote ${written.length} prediction(s) (<name>_trainIds.png and <name>_color.png) to ${o.out}` +
        (first ? `; network ran at ${first.networkHeight}x${first.networkWidth} for ${first.height}x${first.width} inputs like the first` : ''),
    );
    if (failures.length === 0) return 0;
    console.error(`error PROTOSEG_IMAGE_DECODE: protoseg predict: ${failures.length} of ${images.length} image(s) could not be predicted (the others were written):`);
    for (const f of failures) console.error(`  - ${f.message}`);
    return 1;
  } finally {
    loaded.model.dispose();
  }
}

export const predictCommand: CommandSpec = {
  name: 'predict',
  positionals: 'IMAGE_OR_DIR...',
  summary:
    'Writes <name>_trainIds.png (8-bit train ids) and <name>_color.png (Cityscapes palette) for each image, at the\n' +
    'image\'s own size: the network runs at --scale (sides rounded to its output stride), logits are resized back before the\n' +
    'arg-max. Folders are searched recursively for .png/.jpg/.jpeg; <name> is the file name without extension.',
  flags: {
    checkpoint: { type: 'string', argument: 'FILE', description: 'checkpoint file' },
    run: { type: 'string', argument: 'RUN_DIR', description: 'run directory: predicts with its final model (instead of --checkpoint; see --which)' },
    which: { type: 'string', argument: 'latest|best', description: 'with --run: latest (the final model, the default) or best (chosen on source val)' },
    statistics: STATISTICS_FLAG,
    out: { type: 'string', argument: 'DIR', description: 'output folder (required; created if needed)' },
    scale: { type: 'string', argument: 'S|HxW', description: 'network scale factor or size (default: the config\'s eval.scale)' },
    ...runtimeFlags("the checkpoint's config"),
  },
  async run(parsed) {
    return runPredict(predictOptionsFromFlags(parsed));
  },
};
