/**
 * Loading a trained model for evaluation, prediction and reports: from a run directory (its final
 * model, checkpoints/latest.ckpt, unless the best one is asked for) or from a checkpoint file. The config stored in the
 * checkpoint rebuilds the exact model.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ProtosegError } from '../errors.js';
import { createModel, type SegmentationModel } from '../models/segmentation_model.js';
import { loadLatestCheckpoint, type CheckpointContents } from './checkpoint.js';

export interface LoadedRunModel {
  model: SegmentationModel;
  config: Config;
  checkpointPath: string;
  /** Run state at the checkpoint (phase, step, epoch). */
  state: { phase?: string; step?: number; epoch?: number };
}

/**
 * The checkpoint a run directory is evaluated with: `which` = 'latest' (default: the final model of a
 * finished run) or 'best' (chosen on source val; falls back to latest when the run has none).
 */
export function runCheckpointPath(runDir: string, which: 'best' | 'latest' = 'latest'): string {
  const best = join(runDir, 'checkpoints', 'best.ckpt');
  const latest = join(runDir, 'checkpoints', 'latest.ckpt');
  if (which === 'best' && existsSync(best)) return best;
  if (existsSync(latest) || existsSync(join(runDir, 'checkpoints', 'latest.prev.ckpt'))) return latest;
  throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${runDir}: expected a run directory with checkpoints/latest.ckpt, got none. Train first (protoseg train --out ${runDir}) or pass --checkpoint FILE.`);
}

/** Rebuilds the model of a checkpoint (call initBackend first). */
export function modelFromCheckpoint(contents: CheckpointContents, path: string): LoadedRunModel {
  if (contents.meta['format'] !== 'protoseg-run' || contents.meta['config'] === undefined) {
    throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${path}: expected a protoseg training checkpoint (with its config), got another kind of file.`);
  }
  const config = validateConfig(contents.meta['config'], `${path} (stored config)`);
  const model = createModel({ ...config.model, seed: config.seed });
  const dict: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, entry] of Object.entries(contents.arrays)) {
    if (name.startsWith('model.')) dict[name.slice('model.'.length)] = { shape: entry.shape, data: entry.data as Float32Array };
  }
  try {
    model.loadStateDict(dict);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, config, checkpointPath: path, state: (contents.meta['state'] ?? {}) as LoadedRunModel['state'] };
}

export function loadModel(source: { runDir: string; which?: 'best' | 'latest' } | { checkpoint: string }): LoadedRunModel {
  const path = 'checkpoint' in source ? source.checkpoint : runCheckpointPath(source.runDir, source.which);
  return modelFromCheckpoint(loadLatestCheckpoint(path), path);
}
