import { Writable } from 'node:stream';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { coreConfigChecks, coreConfigSchema, coreEnv } from '../../src/lib/runtime/core-config.js';
import { amqp } from '../../src/lib/amqp/amqp-integration.js';
import { createLogger, type LogSink, type Logger } from '../../src/lib/primitives/log.js';

/** In-process helpers for unit tests: a config from the real defaults, a capturing logger. */

export const defaultsFile = new URL('../../../config/default.json', import.meta.url);

/** The core's sections and the `amqp` integration's, as an app that adds AMQP has them. */
export const testConfigSchema = coreConfigSchema.extend({ amqp: amqp.configSchema });
export const testConfigEnv = { ...coreEnv, ...amqp.env };

/** Loaded as the service loads it (run-service.ts): the core's cross-section checks too. */
export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    schema: testConfigSchema,
    env: testConfigEnv,
    defaultsFile,
    source: env,
    crossChecks: coreConfigChecks,
  });
}

/** A log sink that keeps every line, parsed. */
export class CapturingSink extends Writable implements LogSink {
  readonly lines: Array<Record<string, unknown>> = [];

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.write_(String(chunk));
    done();
  }

  /** pino and the worker hosts call write(line) directly. */
  override write(chunk: unknown): boolean {
    this.write_(String(chunk));
    return true;
  }

  flushSync(): void {
    /* lines are kept as they come */
  }

  /** Resolves with the first line (seen or to come) whose msg is `msg` or that matches. */
  waitFor(
    match: string | ((l: Record<string, unknown>) => boolean),
  ): Promise<Record<string, unknown>> {
    const test =
      typeof match === 'string' ? (l: Record<string, unknown>) => l['msg'] === match : match;
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const onLine = (line: Record<string, unknown>): void => {
        if (!test(line)) return;
        this.off('line', onLine);
        resolve(line);
      };
      this.on('line', onLine);
    });
  }

  messages(): string[] {
    return this.lines.map((l) => String(l['msg']));
  }

  private write_(text: string): void {
    for (const text_ of text.split('\n')) {
      if (text_ === '') continue;
      const line = JSON.parse(text_) as Record<string, unknown>;
      this.lines.push(line);
      this.emit('line', line);
    }
  }
}

export function captureLogger(level: 'debug' | 'info' | 'trace' = 'debug'): {
  log: Logger;
  sink: CapturingSink;
} {
  const sink = new CapturingSink();
  const log = createLogger({
    app: 'test',
    thread: 'main',
    version: 'test',
    level,
    destination: sink,
  });
  return { log, sink };
}
