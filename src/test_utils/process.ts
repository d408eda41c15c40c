/**
 * Test support: a child process (a node script) with its output collected and a timeout that kills it,
 * so that a hang fails the test instead of stalling the suite; and polling for a condition. Test code only.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the timeout killed it. */
  timedOut: boolean;
  /** Wall time from start to exit. */
  ms: number;
}

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Default 60 s. */
  timeoutMs?: number;
}

/** A started child process plus a promise of its result. */
export interface RunningProcess {
  child: ChildProcess;
  /** Output so far (grows while it runs). */
  output(): { stdout: string; stderr: string };
  done: Promise<ProcessRun>;
}

/** Runs `node script ...args`. */
export function startProcess(script: string, args: readonly string[], options: StartOptions = {}): RunningProcess {
  const start = Date.now();
  const child = spawn(process.execPath, [script, ...args], { cwd: options.cwd ?? process.cwd(), env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 60_000);
  const done = new Promise<ProcessRun>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut, ms: Date.now() - start });
    });
  });
  return { child, output: () => ({ stdout, stderr }), done };
}

/** Polls `condition` every 25 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
