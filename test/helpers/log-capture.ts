import { createLogger, type Logger } from '../../src/lib/log.js';
import type { LogLine } from './service-process.js';
import type { MetricTags, Metrics } from '../../src/lib/telemetry/metrics.js';

/**
 * An in-process logger whose JSON lines a test can read and wait for, and a Metrics that
 * records what it was given. For testing components without spawning the service.
 */

export interface CapturedLog {
  log: Logger;
  lines: LogLine[];
  /** Resolves with the first line (seen or to come) whose msg is `msg`; rejects after timeoutMs. */
  waitFor: (msg: string, timeoutMs?: number) => Promise<LogLine>;
  /** Lines whose msg is `msg`. */
  named: (msg: string) => LogLine[];
}

export function captureLog(): CapturedLog {
  const lines: LogLine[] = [];
  let waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];
  const log = createLogger({
    app: 'test',
    thread: 'main',
    version: 'test',
    level: 'debug',
    destination: {
      write(text: string) {
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
  return {
    log,
    lines,
    named: (msg) => lines.filter((l) => l.msg === msg),
    waitFor(msg, timeoutMs = 5_000) {
      const seen = lines.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w.resolve !== done);
          reject(new Error(`no log line '${msg}' within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (l: LogLine): void => {
          clearTimeout(timer);
          resolve(l);
        };
        waiters.push({ msg, resolve: done });
      });
    },
  };
}

export interface RecordedMetric {
  type: 'count' | 'gauge' | 'timing';
  name: string;
  value: number;
  tags: MetricTags;
}

export class RecordingMetrics implements Metrics {
  readonly records: RecordedMetric[] = [];

  count(name: string, value = 1, tags: MetricTags = {}): void {
    this.records.push({ type: 'count', name, value, tags });
  }

  gauge(name: string, value: number, tags: MetricTags = {}): void {
    this.records.push({ type: 'gauge', name, value, tags });
  }

  timing(name: string, ms: number, tags: MetricTags = {}): void {
    this.records.push({ type: 'timing', name, value: ms, tags });
  }

  /** Values recorded under `name`, in order. */
  values(name: string): number[] {
    return this.records.filter((r) => r.name === name).map((r) => r.value);
  }
}
