import cronitor from 'cronitor';
import type { Logger } from '../primitives/log.js';
import type { ThreadReport } from '../threads/nanny.js';
import type { JobRunMonitor } from '../schedule.js';
import { withTimeout } from '../primitives/waits.js';
import { redactSecrets } from '../primitives/secrets.js';
import { serializeError } from '../primitives/error-serialization.js';

/**
 * The cronitor integration, and the only file that imports cronitor. Two uses:
 * - the nanny's telemetry: each thread report becomes a ping to the monitor named after the
 *   app: `run` when the service is ready, then `complete` (all threads alive) or `fail`
 *   (missing threads named in the message), with the thread count as a metric;
 * - scheduled jobs: a `run`, then `complete` or `fail` ping per execution (a JobRunMonitor).
 * A ping never throws and never delays its caller; a failing endpoint logs one warning per
 * outage. `close()` ends the pings still in flight.
 */

export interface CronitorOptions {
  apiKey: string;
  /** The ping base URL; pings go to `${pingUrl}/${apiKey}/${monitorKey}`. */
  pingUrl: string;
  timeoutMs: number;
  /** The app name: the nanny's monitor key, and the prefix of job monitor keys. */
  app: string;
  environment: string;
  log: Logger;
}

type PingParams = Record<string, unknown>;

/** The fields of axios' request config set here. */
interface RequestConfig {
  signal?: AbortSignal;
  maxContentLength?: number;
  maxBodyLength?: number;
  maxRedirects?: number;
}

/**
 * What a ping may read of an answer (cronitor's is a few bytes): read whole, 200 MB answers
 * took a service a ping a second to 3.6 GB of RSS in 12 s.
 */
const maxAnswerBytes = 64 * 1024;

interface AxiosLike {
  interceptors: {
    request: { use(onRequest: (config: RequestConfig) => unknown): void };
    response: { use(onOk: (r: unknown) => unknown, onError: (error: unknown) => unknown): void };
  };
}

export class CronitorPinger implements JobRunMonitor {
  readonly #options: CronitorOptions;
  readonly #log: Logger;
  readonly #controller = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  #api: ReturnType<typeof cronitor> | undefined;
  #failing = false;
  #sent = 0;
  #failed = 0;

  constructor(options: CronitorOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'cronitor' });
  }

  /** Pings sent / failed so far. */
  get stats(): { sent: number; failed: number } {
    return { sent: this.#sent, failed: this.#failed };
  }

  /** Creates the client. Idempotent. */
  start(): void {
    if (this.#api !== undefined) return;
    const o = this.#options;
    const api = cronitor(o.apiKey, { timeout: o.timeoutMs, environment: o.environment });
    const base = o.pingUrl.replace(/\/+$/, '');
    // The client has the SaaS URL built in; self-hosted endpoints and tests need another base.
    api._api.pingUrl = (key: string) =>
      `${base}/${encodeURIComponent(o.apiKey)}/${encodeURIComponent(key)}`;
    const axios = api._api.axios as AxiosLike;
    // Each ping bounded whole, answer included: the client's timeout is the socket's idle
    // time, and an endpoint that trickled its answer held every ping open (41 sockets after
    // 20 s). Aborted, axios destroys the request and its socket.
    axios.interceptors.request.use((config) => {
      config.signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(o.timeoutMs)]);
      config.maxContentLength = maxAnswerBytes;
      config.maxBodyLength = maxAnswerBytes;
      // Not followed: a ping URL that redirects is a wrong setting, said in the warning (its
      // status), not 21 more requests carrying the key in their path.
      config.maxRedirects = 0;
      return config;
    });
    // Monitor.ping() prints a failed request with console.error, request headers (the API key)
    // included. Failures are settled here instead, and logged once per outage.
    axios.interceptors.response.use(
      (response) => {
        this.#onOutcome(undefined);
        return response;
      },
      (error: unknown) => {
        this.#onOutcome(error);
        return { status: 0, data: null };
      },
    );
    this.#api = api;
    // The origin alone: a self-hosted or proxied ping URL may carry a key in its path, and the
    // base with its trailing / taken off is no longer the remembered secret (it was logged
    // whole: CRONITOR_PING_URL=https://HOST/ping/SECRET/ printed SECRET).
    this.#log.info({ pingUrl: new URL(base).origin, monitor: o.app }, 'cronitor pings on');
  }

  /** The service is up: a `run` ping for the app's monitor. */
  serviceStarted(threads: number): void {
    this.#ping(this.#options.app, { state: 'run', message: `started with ${threads} threads` });
  }

  /** Turns a nanny thread report into a telemetry ping. */
  threadReport(report: ThreadReport): void {
    const missing = report.missing.length;
    this.#ping(this.#options.app, {
      state: missing === 0 ? 'complete' : 'fail',
      message:
        missing === 0
          ? `threads ${report.alive}/${report.expected} alive`
          : `threads ${report.alive}/${report.expected} alive; missing: ${report.missing.join(', ')}`,
      metrics: { count: report.alive, error_count: missing },
    });
  }

  run(job: string, series: string): void {
    this.#ping(this.#jobKey(job), { state: 'run', series });
  }

  complete(job: string, series: string, durationMs: number): void {
    this.#ping(this.#jobKey(job), { state: 'complete', series, metrics: { duration: durationMs } });
  }

  fail(job: string, series: string, error: unknown): void {
    // Read as the exception scope reads it: a job may throw anything, and a value String() or
    // `.message` throws on (Object.create(null), a getter that throws) threw here, out of the
    // job's scope: exit 70 for an error the scope had handled.
    const { name, message } = serializeError(error);
    const text = name === 'NonError' ? message : `${name}: ${message}`;
    // Masked as a log line is: a job's error may quote a secret (a URL with its password).
    // Well-formed: a lone surrogate made the client's encodeURIComponent throw (no ping).
    const masked = redactSecrets(text.toWellFormed()).slice(0, 1000);
    this.#ping(this.#jobKey(job), { state: 'fail', series, message: masked });
  }

  /** Waits, at most `timeoutMs`, for pings in flight, then aborts the rest. Idempotent. */
  async close(timeoutMs = this.#options.timeoutMs): Promise<void> {
    await withTimeout(Promise.allSettled([...this.#pending]), timeoutMs);
    this.#controller.abort();
    this.#log.debug(this.stats, 'cronitor closed');
  }

  #jobKey(job: string): string {
    return `${this.#options.app}-${job}`;
  }

  #ping(key: string, params: PingParams): void {
    const api = this.#api;
    if (api === undefined || this.#controller.signal.aborted) return;
    let ping: Promise<unknown>;
    try {
      ping = new api.Monitor(key).ping(params).catch(() => false);
    } catch (error) {
      // Never expected (the client is async throughout); a ping still never throws.
      this.#onOutcome(error);
      return;
    }
    this.#pending.add(ping);
    void ping.finally(() => this.#pending.delete(ping));
  }

  #onOutcome(error: unknown): void {
    if (error === undefined) {
      this.#sent++;
      if (this.#failing) this.#log.info({ failed: this.#failed }, 'cronitor reachable again');
      this.#failing = false;
      return;
    }
    this.#failed++;
    if (this.#failing || this.#controller.signal.aborted) return;
    this.#failing = true;
    const e = error as { code?: unknown; message?: unknown; response?: { status?: unknown } };
    // Cancelled and not by close(): the ping's own bound ran out.
    const message =
      e.code === 'ERR_CANCELED' ? `no answer within ${this.#options.timeoutMs} ms` : e.message;
    this.#log.warn(
      { status: e.response?.status, error: String(message) },
      'cronitor ping failed; further failures are counted, not logged',
    );
  }
}
