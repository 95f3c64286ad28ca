import { workerData } from 'node:worker_threads';
import { createLineLogger } from '../primitives/line-logger.js';
import { maxTimerMs } from '../primitives/waits.js';
import type { SentinelInit } from './deadline-sentinel.js';

/**
 * The deadline sentinel's thread (deadline-sentinel.ts): one timer; when it fires, the process
 * has outlived its shutdown deadline by the exit's own allowance, so its main thread is stuck.
 * One fatal line, then SIGKILL.
 */

/**
 * How long the line may take. It is written off this thread (libuv's pool), since a stdout
 * nobody reads may be what holds main, and a write that blocked here would keep the kill from
 * happening: past this, the process is killed without it.
 */
const lineTimeoutMs = 250;

function writeThenKill(line: string): void {
  const kill = (): void => {
    process.kill(process.pid, 'SIGKILL');
  };
  setTimeout(kill, lineTimeoutMs);
  process.getBuiltinModule('node:fs').write(1, line, kill);
}

const init = workerData as SentinelInit;
setTimeout(
  () => {
    const log = createLineLogger({
      ...init.logger,
      level: 'fatal',
      destination: { write: writeThenKill },
    });
    log.fatal(
      { deadlineMs: init.deadlineMs, graceMs: init.graceMs, signal: 'SIGKILL' },
      'the process outlived its shutdown deadline (main thread stuck); killing it',
    );
  },
  // A deadline near the longest timer plus the grace would overflow it, and fire at once.
  Math.min(maxTimerMs, Math.max(0, init.strikeAt - Date.now())),
);
