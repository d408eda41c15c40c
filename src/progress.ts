/**
 * Progress reporting for long loops (data check, feature passes, epochs). Library code takes a
 * `ProgressReporter` and never writes to the terminal itself; the CLI passes `stderrProgress()`
 * unless --quiet.
 */

export interface ProgressReporter {
  /** Begins a phase of `total` units (0 or less: unknown total). */
  start(label: string, total: number): void;
  /** `n` more units done (default 1). */
  tick(n?: number): void;
  end(): void;
}

/** Does nothing; the default everywhere. */
export const noProgress: ProgressReporter = { start() {}, tick() {}, end() {} };

export interface StderrProgressOptions {
  /** Where to write; defaults to process.stderr. */
  stream?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Overrides TTY detection. */
  tty?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Off a terminal: at most one progress line per this many ms, across phases (default 5000). */
  intervalMs?: number;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * On a TTY: one line "label [#####.....] 12/40 3.1/s ETA 9s" redrawn with \r (at most ~10 times a second).
 * Otherwise (a log file, CI): one line when a phase ends ("label: done 40/40 in 9s"), and a progress line
 * while one runs only when `intervalMs` has passed since the last line, so a whole training run logs a
 * few dozen lines, not one per 10% of every phase.
 */
export function stderrProgress(options: StderrProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const now = options.now ?? (() => Date.now());
  let label = '';
  let total = 0;
  let done = 0;
  let started = 0;
  let lastDraw = 0;
  const interval = options.intervalMs ?? 5000;
  // When the last line was written off a terminal (shared by all phases of this reporter).
  let lastLine = now();
  let active = false;

  const line = (): string => {
    const elapsed = (now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const rateText = rate > 0 ? `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)}/s` : '-/s';
    if (total > 0) {
      const fraction = Math.min(1, done / total);
      const eta = rate > 0 ? (total - done) / rate : NaN;
      const width = 24;
      const filled = Math.round(fraction * width);
      return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rateText} ETA ${formatSeconds(eta)}`;
    }
    return `${label} ${done} ${rateText} ${formatSeconds(elapsed)}`;
  };

  const draw = (force: boolean): void => {
    if (tty) {
      const t = now();
      if (!force && t - lastDraw < 100) return;
      lastDraw = t;
      const cols = stream.columns ?? 100;
      stream.write(`\r${line().slice(0, Math.max(20, cols - 1)).padEnd(Math.max(20, cols - 1))}`);
      return;
    }
    const t = now();
    if (force || t - lastLine >= interval) {
      lastLine = t;
      stream.write(`${line()}\n`);
    }
  };

  return {
    start(newLabel: string, newTotal: number): void {
      label = newLabel;
      total = newTotal;
      done = 0;
      started = now();
      lastDraw = 0;
      active = true;
      if (tty) draw(true);
    },
    tick(n = 1): void {
      if (!active) return;
      done += n;
      draw(false);
    },
    end(): void {
      if (!active) return;
      active = false;
      const elapsed = formatSeconds((now() - started) / 1000);
      if (tty) stream.write(`\r${line()}\n`);
      else {
        lastLine = now();
        stream.write(`${label}: done ${done}${total > 0 ? `/${total}` : ''} in ${elapsed}\n`);
      }
    },
  };
}
