import { createLogger, type Logger } from '../../src/lib/primitives/log.js';
import type { LogLine } from './service-process.js';

/**
 * A real logger whose JSON lines land in `lines`, for tests of in-process components;
 * `waitFor(msg)` resolves when such a line is (or was) logged.
 */
export interface CapturedLog {
  log: Logger;
  lines: LogLine[];
  waitFor: (msg: string, timeoutMs?: number) => Promise<LogLine>;
}

export function captureLog(level: 'debug' | 'info' = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  let waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];
  const log = createLogger({
    app: 'test',
    thread: 'main',
    version: 'test',
    level,
    destination: {
      write: (text: string) => {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        waiters = waiters.filter((w) => {
          if (w.msg !== line.msg) return true;
          w.resolve(line);
          return false;
        });
      },
    },
  });
  const waitFor = (msg: string, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== waiter);
        reject(new Error(`no log line "${msg}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        msg,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(waiter);
    });
  };
  return { log, lines, waitFor };
}
