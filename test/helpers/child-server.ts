import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Shared by the helpers that run a real server binary (VictoriaMetrics, Prometheus). */

/**
 * Calls `read` until `done(result)` holds or `timeoutMs` passes (then returns the last
 * result), every `intervalMs`: for servers that offer no notification when data lands.
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (result: T) => boolean,
  timeoutMs: number,
  intervalMs: number,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const result = await read();
    if (done(result) || performance.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Stops a child server (TERM, then KILL after 5 s) and removes its directory, if given.
 * Resolves once it has exited. Idempotent.
 */
export async function stopChild(child: ChildProcess | undefined, dir?: string): Promise<void> {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/**
 * Spawns a server binary and resolves with it once a line of its stderr matches `ready`;
 * rejects if it exits first or is not ready within `timeoutMs`. Every line it prints goes
 * to `output`, for failure messages.
 */
export async function spawnUntilReady(
  binary: string,
  args: string[],
  ready: RegExp,
  output: string[],
  timeoutMs: number,
): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout }).on('line', (l) => output.push(l));
  const isReady = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      output.push(line);
      if (ready.test(line)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`${binary} exited (${String(code)}):\n${output.join('\n')}`)),
    );
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      isReady,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${binary} not ready within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    await stopChild(child);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return child;
}
