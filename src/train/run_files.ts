/**
 * The files a run writes (architecture.md contract): config.json, metrics.jsonl, metrics.json,
 * checkpoints/{latest,best}.ckpt, report.html.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic_file.js';

export interface MetricsLine {
  /** Global optimisation step (source and target steps of an iteration count once). */
  step: number;
  phase: string;
  epoch?: number;
  [key: string]: unknown;
}

export class RunFiles {
  readonly dir: string;
  /** False on the ranks of a data-parallel run other than rank 0: every write is then skipped (rank 0 writes the run). */
  readonly writer: boolean;
  private lineCount: number | undefined;
  /** Creates nothing: the folder appears with the first file written, so a run that fails its checks leaves no trace. */
  constructor(dir: string, options: { writer?: boolean } = {}) {
    this.dir = dir;
    this.writer = options.writer ?? true;
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
  /** The source-only warm-up model of an adaptive run (the report's baseline predictions). */
  get baselineCheckpoint(): string {
    return join(this.dir, 'checkpoints', 'baseline.ckpt');
  }
  get reportPath(): string {
    return join(this.dir, 'report.html');
  }

  writeJson(path: string, value: unknown): void {
    if (!this.writer) return;
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
  }

  appendMetrics(line: MetricsLine): void {
    if (!this.writer) return;
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true });
    appendFileSync(this.metricsLogPath, `${JSON.stringify(line)}\n`);
    if (this.lineCount !== undefined) this.lineCount += 1;
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

  /** Number of complete lines in metrics.jsonl (stored in each checkpoint). */
  countMetricsLines(): number {
    if (!this.writer) return 0;
    this.lineCount ??= this.readMetrics().length;
    return this.lineCount;
  }

  /**
   * On resume: keep exactly the lines that existed when the resumed checkpoint was written, so nothing
   * is logged twice (not even an epoch-start line written at the checkpoint's own step).
   */
  truncateMetrics(keepLines: number): void {
    if (!this.writer) return;
    const kept = this.readMetrics().slice(0, keepLines);
    this.lineCount = kept.length;
    writeFileAtomic(this.metricsLogPath, kept.map((line) => `${JSON.stringify(line)}\n`).join(''));
  }
}
