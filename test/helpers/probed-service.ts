import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { mainScript, repoRoot, testEnv } from './service-process.js';

/**
 * The fixture service run with a preload (`--import=<probe>` in NODE_OPTIONS: it runs in the
 * main thread and in every worker thread) that prints `<prefix> <JSON>` lines to stderr. Resolves
 * with the first `count` of them, parsed, then stops the service with TERM and waits until it
 * has exited and its output is read; rejects, quoting its stderr, when it exits first or 60 s
 * pass.
 */
export async function probedService<T>(options: {
  probe: string;
  prefix: string;
  count: number;
  env?: Record<string, string>;
  /** After each probe line, with how many have come (to signal the service, say). */
  onProbe?: (received: number, child: ChildProcess) => void;
  /** Every stdout line (V8's trace lines, for one); stdout is ignored without it. */
  onStdout?: (line: string) => void;
}): Promise<T[]> {
  const { probe, prefix, count, onProbe, onStdout } = options;
  const child = spawn(process.execPath, [mainScript], {
    cwd: repoRoot,
    // Warnings only: V8's trace lines share stdout with the log, and a log line may cut one.
    env: testEnv({ NODE_OPTIONS: `--import=${probe}`, LOG_LEVEL: 'warn', ...options.env }),
    stdio: ['ignore', onStdout === undefined ? 'ignore' : 'pipe', 'pipe'],
  });
  // 'close': exited, and every line of its output read (V8 writes its trace out at exit).
  const closed = once(child, 'close');
  // Piped as asked above: null only if spawn's stdio were changed.
  const { stdout, stderr: errors } = child;
  if (errors === null) {
    child.kill('SIGKILL');
    throw new Error('the service has no stderr pipe');
  }
  if (onStdout !== undefined && stdout !== null) {
    createInterface({ input: stdout }).on('line', onStdout);
  }
  const figures: T[] = [];
  const stderr: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`${figures.length} of ${count} probes reported; stderr:\n${stderr.join('\n')}`),
        );
      }, 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the service exited (${String(code)}); stderr:\n${stderr.join('\n')}`));
      });
      createInterface({ input: errors }).on('line', (text) => {
        stderr.push(text);
        if (!text.startsWith(`${prefix} `) || figures.length >= count) return;
        figures.push(JSON.parse(text.slice(prefix.length + 1)) as T);
        onProbe?.(figures.length, child);
        if (figures.length < count) return;
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    child.kill('SIGTERM');
    await closed;
  }
  return figures;
}
