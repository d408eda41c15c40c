/**
 * The files a run writes (architecture.md contract): config.json, metrics.jsonl, metrics.json,
 * checkpoints/{latest,best}.ckpt, report.html.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './checkpoint.js';

export interface MetricsLine {
  /** Global optimisation step (source and target steps of an iteration count once). */
  step: number;
  phase: string;
  epoch?: number;
  [key: string]: unknown;
}

export class RunFiles {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  }
  get configPath(): string {
    return join(this.dir, 'config.json');
  }
  get metricsLogPath(): string {
    return join(this.dir, 'metrics.jsonl');
  }
  get metricsPath(): string {
    return join(this.dir, 'metrics.json');
  }
  get latestCheckpoint(): string {
    return join(this.dir, 'checkpoints', 'latest.ckpt');
  }
  get bestCheckpoint(): string {
    return join(this.dir, 'checkpoints', 'best.ckpt');
  }
  get reportPath(): string {
    return join(this.dir, 'report.html');
  }

  writeJson(path: string, value: unknown): void {
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
  }

  appendMetrics(line: MetricsLine): void {
    appendFileSync(this.metricsLogPath, `${JSON.stringify(line)}\n`);
  }

  readMetrics(): MetricsLine[] {
    if (!existsSync(this.metricsLogPath)) return [];
    return readFileSync(this.metricsLogPath, 'utf8')
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as MetricsLine];
        } catch {
          return []; // a line cut by a kill mid-write
        }
      });
  }

  /** On resume: drop log lines written after the checkpoint being resumed, so steps are not logged twice. */
  truncateMetricsAfter(step: number): void {
    const kept = this.readMetrics().filter((line) => line.step <= step);
    writeFileAtomic(this.metricsLogPath, kept.map((line) => `${JSON.stringify(line)}\n`).join(''));
  }
}
