/** What the CLI prints: run-log lines on stdout, progress on stderr, both silenced by --quiet. */
import { noProgress, stderrProgress, type ProgressReporter } from '../progress.js';

export function cliProgress(quiet: boolean): ProgressReporter {
  return quiet ? noProgress : stderrProgress();
}

export function cliLog(quiet: boolean): (line: string) => void {
  return quiet ? () => {} : (line: string) => console.log(line);
}
