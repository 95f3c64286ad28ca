import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { HttpError, InfluxDB, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import type { Logger } from '../primitives/log.js';
import { ConfigError } from '../primitives/errors.js';
import type { MetricKind, MetricSink, MetricTags } from './metrics.js';
import { timedOut as gaveUp, withTimeout } from '../primitives/waits.js';
import { destroyAfter } from './destroy-after.js';
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

/**
 * The InfluxDB metrics integration, and the only file that imports @influxdata/influxdb-client.
 * Recording is synchronous and cheap: a point goes into the client's batch, which is written
 * every flush interval or when full. Failed batches wait in the client's bounded retry buffer;
 * what overflows it, runs out of retries or is refused is dropped and counted. An outage logs
 * one warning when it starts and one line when it ends, never one per write. `close()` flushes
 * with a bounded wait, then drops what is left and ends any request still open.
 *
 * Each figure is one point: measurement = its name exactly as Prometheus shows it (checked by
 * `createMetrics()`, never rewritten), one field `value` in the unit the name states (a
 * counter's increment, a gauge's reading, one timing in seconds), tags app, host and thread
 * (default `main`) plus the caller's. In VictoriaMetrics a point shows up as `<name>_value`.
 */

export interface InfluxMetricsOptions {
  url: string;
  token: string;
  org: string;
  bucket: string;
  batchSize: number;
  flushIntervalMs: number;
  /** Points kept for retry while the store is unreachable; older ones are dropped first. */
  maxBufferPoints: number;
  /** Per HTTP request. */
  timeoutMs: number;
  /** The bounded wait of `close()`. */
  flushTimeoutMs: number;
  /** Tags on every point (app, host). */
  tags: MetricTags;
  log: Logger;
}

const maxRetries = 3;

/**
 * A tag value as line protocol reads it back: the client escapes commas, spaces and equals
 * signs but not the backslash, so a value ending in one escaped the comma after it (the store
 * read `queue="trail\\,thread=main"`, or refused the batch). Two backslashes read as one.
 */
function escapeBackslashes(value: string): string {
  return value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
}

type RequestFunction = (
  options: RequestOptions,
  callback?: (response: IncomingMessage) => void,
) => ClientRequest;

/** The most of an answer's body read: a store's error message is under 1 KiB. */
export const maxAnswerBytes = 64 * 1024;

/**
 * `request` whose requests end (destroyed, with the client's error) `timeoutMs` after they
 * start, answered or not, and when their socket idles past it; and whose answer is cut after
 * `maxAnswerBytes`. The client reads the whole body of any answer but a 204 (for its error
 * message): a 200 of 100 MB was read on every flush (1.2 GB in 60 s), an endless one to the
 * time limit, and a 500 with 700 MiB of JSON ended the service (RangeError: Invalid string
 * length). The cut answer fails as the client would have failed it, an HttpError with its status
 * and Retry-After, so it is retried or dropped as before.
 */
function withDeadline(request: RequestFunction, timeoutMs: number): RequestFunction {
  return (options, callback) => {
    const req = request(options, callback);
    const message = `no complete answer within INFLUX_TIMEOUT_MS (${timeoutMs} ms)`;
    destroyAfter(req, timeoutMs, message);
    req.once('timeout', () => req.destroy(new Error(message)));
    req.once('response', (response) => capAnswer(response));
    return req;
  };
}

function capAnswer(response: IncomingMessage): void {
  let bytes = 0;
  const count = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes <= maxAnswerBytes) return;
    response.off('data', count);
    const status = response.statusCode ?? 600;
    const retryAfter = response.headers['retry-after'];
    // The client fails the write on the first error it hears: ours, before the destroy, whose
    // "Response aborted" it would retry as a lost connection.
    response.emit(
      'error',
      new HttpError(
        status,
        response.statusMessage,
        undefined,
        typeof retryAfter === 'string' ? retryAfter : undefined,
        response.headers['content-type'],
        `HTTP ${status} with an answer over ${maxAnswerBytes} bytes; not read further`,
      ),
    );
    response.destroy();
  };
  response.on('data', count);
}

export class InfluxMetrics implements MetricSink {
  readonly #options: InfluxMetricsOptions;
  readonly #log: Logger;
  #agent: Agent | undefined;
  #writeApi: WriteApi | undefined;
  #dropped = 0;
  #recorded = 0;
  #written = 0;
  #outage = false;
  #closing: Promise<void> | undefined;
  /** Resolved once every recorded point is written or dropped (see `#allSettled`). */
  #settled: PromiseWithResolvers<void> | undefined;

  constructor(options: InfluxMetricsOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'metrics' });
  }

  /**
   * Points dropped so far (buffer overflow, retries exhausted, refused); after `close()`,
   * every point recorded and not confirmed written.
   */
  get dropped(): number {
    return this.#dropped;
  }

  /** Points the store accepted so far. */
  get written(): number {
    return this.#written;
  }

  /** Creates the write API. Nothing is sent until the first batch is due. Idempotent. */
  start(): void {
    if (this.#writeApi !== undefined) return;
    const o = this.#options;
    // Node refuses such a header before any request exists, and the client lost that error:
    // nothing written, no outage warned of (the config refuses it; a fork may build this).
    try {
      http.validateHeaderValue('authorization', `Token ${o.token}`);
    } catch (error) {
      throw new ConfigError('the InfluxDB token cannot go in an HTTP header', { cause: error });
    }
    // The client logs to the console by default; its lines go to ours, quietly: the outage
    // warning below says it once.
    setLogger({
      error: (message, error) => this.#log.debug({ err: error }, message),
      warn: (message, error) => this.#log.debug({ err: error }, message),
    });
    this.#agent = o.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true })
      : new http.Agent({ keepAlive: true });
    const influx = new InfluxDB({
      url: o.url,
      token: o.token,
      timeout: o.timeoutMs,
      transportOptions: {
        agent: this.#agent,
        // The client's own hook for another request function (meant for the follow-redirects
        // module): ours ends each request at its time limit. The client's `timeout` is the
        // socket's idle time, and it leaves the request open when it fires: a store that
        // answers a byte at a time never timed out, no outage was logged, and every flush
        // opened one more socket (28 in 30 s).
        'follow-redirects': {
          http: { request: withDeadline(http.request, o.timeoutMs) },
          https: { request: withDeadline(https.request, o.timeoutMs) },
        },
      },
    });
    this.#writeApi = influx.getWriteApi(o.org, o.bucket, 'ms', {
      batchSize: o.batchSize,
      flushInterval: o.flushIntervalMs,
      maxBufferLines: o.maxBufferPoints,
      maxRetries,
      maxRetryTime: Math.max(o.flushIntervalMs * 10, 60_000),
      minRetryDelay: Math.min(o.flushIntervalMs, 1000),
      maxRetryDelay: Math.max(o.flushIntervalMs * 4, 5000),
      defaultTags: { ...o.tags },
      writeFailed: (error, lines, attempt) => this.#onFailed(error, lines.length, attempt),
      writeSuccess: (lines) => this.#onSuccess(lines.length),
      writeRetrySkipped: (entry) => {
        this.#dropped += entry.lines.length;
        this.#checkSettled();
      },
    });
    this.#log.info({ url: o.url, bucket: o.bucket }, 'metrics to InfluxDB on');
  }

  /** Writes one point (a figure checked by `createMetrics()`); every kind is a `value`. */
  record(_kind: MetricKind, name: string, value: number, tags: MetricTags | undefined): void {
    this.#write(name, value, tags);
  }

  /**
   * Writes what is batched and waits, at most `flushTimeoutMs`, then drops what is still
   * unwritten (counted) and ends open requests. Never rejects. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const writeApi = this.#writeApi;
    if (writeApi === undefined) return;
    // Sends the batch and the retry buffer once more, and waits for the writes already on
    // their way: the client's flush() does not (its periodic write is fire-and-forget), and
    // ending the connections under one lost its points (a CI run saw the shutdown's first
    // phases missing from the store). Then drops the rest and any request still open.
    // Whatever the store did not confirm by then is counted as dropped.
    const flushed = writeApi
      .flush(true)
      .then(() => this.#allSettled())
      .then(
        () => true,
        () => true,
      );
    const timedOut = (await withTimeout(flushed, this.#options.flushTimeoutMs)) === gaveUp;
    writeApi.dispose();
    // Disposed, the client sends nothing, but its retry buffer keeps its entries: a retry still
    // on its way when the sockets end re-armed the buffer's timer for them (up to its maximum
    // delay), and that timer held the exit seconds after 'shutdown complete'. A flush of the
    // disposed client empties both buffers without a request; only then the sockets end.
    await writeApi.flush(true).catch(() => undefined);
    this.#agent?.destroy();
    this.#dropped = this.#recorded - this.#written;
    const fields = { written: this.#written, dropped: this.#dropped, timedOut };
    if (this.#dropped > 0 || timedOut) this.#log.warn(fields, 'metrics closed; some were dropped');
    else this.#log.info(fields, 'metrics closed');
  }

  #write(name: string, value: number, tags?: MetricTags): void {
    const writeApi = this.#writeApi;
    if (writeApi === undefined || this.#closing !== undefined || !Number.isFinite(value)) return;
    try {
      const point = new Point(name).floatField('value', value).timestamp(new Date());
      point.tag('thread', 'main');
      for (const [key, tag] of Object.entries(tags ?? {})) point.tag(key, escapeBackslashes(tag));
      writeApi.writePoint(point);
      this.#recorded++;
    } catch (error) {
      // Recording never throws: a refused point or a closed API costs one point, not the caller.
      this.#dropped++;
      this.#log.debug({ err: error, metric: name }, 'metric point not recorded');
    }
  }

  /** Whether every point recorded so far is written or dropped. */
  get #isSettled(): boolean {
    return this.#written + this.#dropped >= this.#recorded;
  }

  /** Resolves once every point recorded so far is written or dropped. */
  #allSettled(): Promise<void> {
    if (this.#isSettled) return Promise.resolve();
    this.#settled ??= Promise.withResolvers<void>();
    return this.#settled.promise;
  }

  #checkSettled(): void {
    if (this.#settled === undefined || !this.#isSettled) return;
    this.#settled.resolve();
    this.#settled = undefined;
  }

  #onFailed(error: Error, lines: number, attempt: number): void {
    const status = (error as { statusCode?: unknown }).statusCode;
    const refused = typeof status === 'number' && status < 429;
    if (refused || attempt > maxRetries) {
      this.#dropped += lines;
      this.#checkSettled();
    }
    if (this.#outage) return;
    this.#outage = true;
    this.#log.warn(
      { err: error, points: lines, attempt, willRetry: !refused && attempt <= maxRetries },
      'metrics store unreachable; points are kept for retry (bounded), then dropped',
    );
  }

  #onSuccess(lines: number): void {
    this.#written += lines;
    this.#checkSettled();
    if (!this.#outage) return;
    this.#outage = false;
    this.#log.info({ dropped: this.#dropped }, 'metrics store reachable again');
  }
}
