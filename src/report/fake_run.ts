/**
 * A small hand-written run directory for the report's tests (and for trying the report without
 * training): config.json, metrics.jsonl, metrics.json and, optionally, real tiny models in
 * checkpoints/latest.ckpt (the final model, step 8), best.ckpt (step 4) and, for pcs, baseline.ckpt
 * (the warm-up, step 4), whose config points at a tiny built-in benchmark (32x64, 4 val images).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CLASS_NAMES } from '../data/label_maps.js';
import type { Metrics } from '../metrics/iou.js';
import { createModel } from '../models/segmentation_model.js';
import { saveCheckpoint, type CheckpointContents } from '../train/checkpoint.js';

export interface FakeRunOptions {
  method?: 'pcs' | 'source-only';
  /** Write metrics.json (default true). */
  metricsJson?: boolean;
  /** Write checkpoints (latest, best, baseline for pcs) with tiny models (needs an initialised backend). Default false. */
  checkpoint?: boolean;
}

/** The config of the fake run: a tiny synthetic benchmark cached in RUN_DIR/bench and a tiny UNet. */
export function fakeRunConfig(runDir: string, method: 'pcs' | 'source-only' = 'pcs'): Config {
  const bench = join(runDir, 'bench');
  return validateConfig(
    {
      method,
      backend: 'wasm',
      data: {
        source: { dataset: 'synthetic', root: bench },
        target: { dataset: 'synthetic', root: bench },
        synthetic: { height: 32, width: 64, sourceImages: 2, targetImages: 2, valImages: 4 },
      },
      model: { encoder: { widths: [4, 4, 4, 4] }, embeddingDim: 8 },
      train: { steps: 4, epochs: 2, stepsPerEpoch: 2, logEvery: 1 },
    },
    'fake run config',
  );
}

function fakeMetrics(scale: number): Metrics {
  const perClassIoU: Record<string, number | null> = {};
  CLASS_NAMES.forEach((name, c) => (perClassIoU[name] = c % 5 === 4 ? null : Math.min(100, (c * 7 + 11) * scale)));
  const present = Object.values(perClassIoU).filter((v): v is number => v !== null);
  return {
    mIoU: present.reduce((a, b) => a + b, 0) / present.length,
    perClassIoU,
    pixelAccuracy: 50 * scale,
    images: 4,
    // Mostly right, some pixels of each class predicted as the next one; class 18 never occurs.
    confusion: CLASS_NAMES.map((_, i) => CLASS_NAMES.map((__, j) => (i === 18 ? 0 : i === j ? Math.round(100 * scale) : j === (i + 1) % 19 ? 10 : 0))),
  };
}

function perClass(f: (c: number) => number): Record<string, number> {
  return Object.fromEntries(CLASS_NAMES.map((name, c) => [name, f(c)]));
}

/** Writes the fake run into runDir (created if needed); returns its config. */
export function writeFakeRun(runDir: string, options: FakeRunOptions = {}): Config {
  const method = options.method ?? 'pcs';
  const config = fakeRunConfig(runDir, method);
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  writeFileSync(join(runDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const lines: Record<string, unknown>[] = [];
  for (let step = 1; step <= 4; step++) {
    lines.push({ step, phase: 'warmup', epoch: 0, lr: 1e-3 * (1 - step / 5), secondsPerStep: 0.5, 'loss/src/pixelCrossEntropy': 3 / step, 'loss/src/cosineCrossEntropy': 2 / step, 'loss/total': 5 / step });
  }
  lines.push({ step: 4, phase: 'warmup-end', epoch: 0, 'eval/src/mIoU': 20, 'eval/tgt/mIoU': 8 });
  if (method === 'pcs') {
    let step = 4;
    for (let epoch = 0; epoch < 2; epoch++) {
      lines.push({
        step,
        phase: 'epoch-start',
        epoch,
        'instances/src': perClass((c) => (c * 3 + epoch) % 11),
        'instances/tgt': perClass((c) => (c * 5 + 2 * epoch) % 13),
        'pseudoLabelled/src': perClass(() => 1),
        'pseudoLabelled/tgt': perClass(() => epoch),
        'apcl/src': ['road'],
        'apcl/tgt': [],
        'purity/src': 0.8 + 0.1 * epoch,
        'purity/tgt': epoch === 0 ? null : 0.6,
        'kmeans/seconds': 0.1,
      });
      for (let i = 0; i < 2; i++) {
        step++;
        lines.push({
          step,
          phase: 'adapt',
          epoch,
          lr: 1e-3 * (1 - (epoch * 2 + i) / 4),
          secondsPerStep: 1.5,
          'loss/src/pixelCrossEntropy': 1 / step,
          'loss/src/protoNce': 4 - step * 0.2,
          'loss/tgt/protoNce': 3 - step * 0.1,
          'loss/tgt/maxSquares': -0.0003 * step,
          'loss/src/total': 6 - step * 0.3,
          'loss/tgt/total': 3 - step * 0.1,
        });
      }
      lines.push({ step, phase: 'epoch-end', epoch, 'eval/src/mIoU': 21 + epoch, 'eval/tgt/mIoU': 10 + 3 * epoch });
    }
  }
  // A line cut short by a kill must be skipped, not break the report.
  writeFileSync(join(runDir, 'metrics.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n{"step": 9, "pha`);
  if (options.metricsJson ?? true) {
    const metrics =
      method === 'pcs'
        ? { source: fakeMetrics(1), target: fakeMetrics(0.6), baseline: { source: fakeMetrics(0.9), target: fakeMetrics(0.4) }, selection: { split: 'source-val', step: 8, mIoU: 22 } }
        : { source: fakeMetrics(1), target: fakeMetrics(0.5), selection: { split: 'source-val', step: 4, mIoU: 20 } };
    writeFileSync(join(runDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  }
  if (options.checkpoint) {
    const save = (file: string, seed: number, state: Record<string, unknown>): void => {
      const model = createModel({ ...config.model, seed });
      try {
        const arrays: CheckpointContents['arrays'] = {};
        for (const [name, entry] of Object.entries(model.stateDict())) arrays[`model.${name}`] = entry;
        saveCheckpoint(join(runDir, 'checkpoints', file), { meta: { format: 'protoseg-run', config, state }, arrays });
      } finally {
        model.dispose();
      }
    };
    save('latest.ckpt', config.seed, { phase: 'done', step: 8, epoch: 2 });
    save('best.ckpt', config.seed + 1, { phase: 'adapt', step: 4, epoch: 0 });
    if (method === 'pcs') save('baseline.ckpt', config.seed + 2, { phase: 'adapt', step: 4, epoch: 0 });
  }
  return config;
}
