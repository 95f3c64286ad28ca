import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { hostname } from 'node:os';
import * as Sentry from '@sentry/node';
import type { Logger } from '../primitives/log.js';
import { currentCorrelationId } from '../primitives/correlation.js';
import { activeTraceFields } from './trace-context.js';
import type { ErrorReporter } from '../primitives/process-control.js';
import { scrubSecrets } from '../primitives/secrets.js';
import { destroyAfter } from './destroy-after.js';
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

/**
 * The Sentry integration, and the only file that imports @sentry/node. Each thread (main and
 * every worker) starts its own client: errors are reported from the thread that raised them,
 * tagged with app, thread and the active correlation id. No default integrations: the SDK
 * must not install its own uncaught-exception handlers (the exception scope owns those), nor
 * OpenTelemetry: the service's own provider (tracing.ts) is the one, and an error reported
 * while a span is active carries that span's trace id, so Sentry and the OTLP collector show
 * the same trace. Flushing is bounded, and requests still open after it are destroyed, so a
 * hanging Sentry endpoint cannot hold the process open.
 */

export interface SentryOptions {
  dsn: string;
  app: string;
  thread: string;
  /** The release: the git commit when known. */
  release: string;
  environment: string;
  /** Error names and logger components whose errors are not reported. */
  ignore: readonly string[];
  flushTimeoutMs: number;
  log: Logger;
}

export interface SentryHandle {
  /** Register with `runtime.reporters.add` / `ctx.addReporter`. Never throws. */
  readonly report: ErrorReporter;
  /** Sends what is queued; resolves false when `timeoutMs` passed first. Never rejects. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flushes (bounded), then drops the client and any request still open. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

/** Starts this thread's Sentry client. Call once per thread, before any report. */
export function startSentry(options: SentryOptions): SentryHandle {
  const log = options.log.child({ component: 'sentry' });
  const open = new Set<ClientRequest>();
  // Each request ends at SENTRY_FLUSH_TIMEOUT_MS as a whole, answered or not: the client has no
  // bound of its own, and an endpoint that stalled once (connections kept, no answer) filled
  // its buffer with requests that never ended, and every report after it was dropped, for
  // good and silently.
  const outages = new OutageLog(log);
  const tracked = (module: typeof http | typeof https) => ({
    request(
      requestOptions: RequestOptions,
      callback?: (res: IncomingMessage) => void,
    ): ClientRequest {
      const req = module.request(requestOptions, callback);
      const seq = outages.started();
      open.add(req);
      destroyAfter(
        req,
        options.flushTimeoutMs,
        `no answer within SENTRY_FLUSH_TIMEOUT_MS (${options.flushTimeoutMs} ms)`,
      );
      req.once('response', (response) => outages.answered(seq, response.statusCode ?? 0));
      req.once('error', (error) => outages.failed(seq, error));
      req.once('close', () => open.delete(req));
      return req;
    },
  });
  const client = Sentry.initWithoutDefaultIntegrations({
    dsn: options.dsn,
    release: options.release,
    environment: options.environment,
    serverName: hostname(),
    sendClientReports: false,
    enableOpenTelemetrySetup: false,
    enableRuntimeChannelInjection: false,
    initialScope: { tags: { app: options.app, thread: options.thread } },
    // Scrubbed like a log line before it leaves: secret-named keys, known secrets, URL userinfo.
    beforeSend: (event) => scrubSecrets(event),
    integrations: [
      Sentry.eventFiltersIntegration(),
      Sentry.functionToStringIntegration(),
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      Sentry.nodeContextIntegration(),
      Sentry.contextLinesIntegration(),
    ],
    transportOptions: {
      httpModule: tracked(options.dsn.startsWith('https:') ? https : http),
      keepAlive: false,
    },
  });
  if (client === undefined) throw new Error('Sentry did not start in this thread');
  const ignored = new Set(options.ignore);
  log.debug({ thread: options.thread, release: options.release }, 'sentry started');

  const report: ErrorReporter = (error, context) => {
    const name = error instanceof Error ? error.name : undefined;
    const component = typeof context['component'] === 'string' ? context['component'] : undefined;
    if ((name !== undefined && ignored.has(name)) || (component && ignored.has(component))) {
      log.debug({ errorName: name, component }, 'error not reported: on the ignore list');
      return;
    }
    const correlationId = currentCorrelationId();
    const traced = activeTraceFields();
    Sentry.withScope((scope) => {
      if (traced !== undefined) {
        scope.setPropagationContext({
          traceId: traced.trace_id,
          parentSpanId: traced.span_id,
          sampleRand: Math.random(),
        });
      }
      if (correlationId !== undefined) scope.setTag('correlationId', correlationId);
      if (typeof context['thread'] === 'string') scope.setTag('thread', context['thread']);
      if (typeof context['kind'] === 'string') scope.setTag('kind', context['kind']);
      scope.setExtras(context);
      Sentry.captureException(error);
    });
  };

  const flush = async (timeoutMs = options.flushTimeoutMs): Promise<boolean> => {
    try {
      return await client.flush(timeoutMs);
    } catch (error) {
      log.warn({ err: error }, 'sentry flush failed');
      return false;
    }
  };

  let closing: Promise<void> | undefined;
  const close = (timeoutMs = options.flushTimeoutMs): Promise<void> => {
    closing ??= (async () => {
      const flushed = await flush(timeoutMs);
      if (!flushed) log.warn({ timeoutMs }, 'sentry events not sent within the flush timeout');
      // A hanging endpoint leaves requests open: end them, so they cannot hold the process.
      // Ended on purpose, they are no outage (a report made during the flush was warned of).
      outages.close();
      for (const req of open) req.destroy();
      // A non-zero timeout: Sentry reads 0 as "wait for ever".
      await Promise.resolve(client.close(100)).catch(() => false);
    })();
    return closing;
  };

  return { report, flush, close };
}

/** The least time between two outage warnings: an endpoint failing now and then is one line. */
const outageWarnEveryMs = 60_000;

/**
 * The endpoint's outages, logged as one warning ('sentry unreachable; reports are dropped until
 * it answers') and, when it answers again, one line. Requests are numbered as they start, and
 * only what a request started later says changes the state: requests ending out of order (one
 * from before a recovery timing out after it) do not flap. A warning at most every minute; an
 * outage within the minute after one is counted in the next line, not warned of.
 */
class OutageLog {
  readonly #log: Logger;
  #next = 0;
  #lastAnswered = -1;
  /** The request whose failure began the outage under way, and whether it was warned of. */
  #outage: { from: number; warned: boolean; failures: number } | undefined;
  #warnedAt = -Infinity;
  #closed = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** A request starts: its number. */
  started(): number {
    return this.#next++;
  }

  failed(seq: number, error: Error): void {
    if (this.#closed || seq < this.#lastAnswered) return;
    if (this.#outage !== undefined) {
      this.#outage.failures++;
      return;
    }
    const warned = performance.now() - this.#warnedAt >= outageWarnEveryMs;
    this.#outage = { from: seq, warned, failures: 1 };
    if (!warned) return;
    this.#warnedAt = performance.now();
    this.#log.warn({ err: error }, 'sentry unreachable; reports are dropped until it answers');
  }

  answered(seq: number, status: number): void {
    if (status >= 500) return this.failed(seq, new Error(`HTTP ${status}`));
    this.#lastAnswered = Math.max(this.#lastAnswered, seq);
    const outage = this.#outage;
    if (outage === undefined || seq <= outage.from) return;
    this.#outage = undefined;
    if (outage.warned)
      this.#log.info({ status, failures: outage.failures }, 'sentry reachable again');
  }

  /** The requests ended from now on are ended on purpose (the close). */
  close(): void {
    this.#closed = true;
  }
}
