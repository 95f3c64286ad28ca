import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../primitives/log.js';
import type { HealthChecks, HealthReport } from '../health.js';
import { ConfigError } from '../primitives/errors.js';
import { redactSecrets, scrubSecrets } from '../primitives/secrets.js';
const { createServer } = process.getBuiltinModule('node:http');

/**
 * The health endpoint (node:http), with Kubernetes' names: `GET /livez` answers liveness
 * (`/healthz` is an alias), `GET /readyz` readiness, each as JSON `{ ok, checks: { name: { ok,
 * detail } } }` with status 200 or 503; `?verbose` answers the same in text, one `[+]name ok`
 * or `[-]name failed: detail` line per check. `GET /metrics` serves the Prometheus exposition
 * when a metrics source is given. Bound to 127.0.0.1 unless told otherwise; off when no port
 * is configured. A blocked main event loop cannot answer at all, which a probe with a timeout
 * reads as "not live", as it should.
 */

/** What `/metrics` serves: the exposition text and its content type. */
export interface MetricsExposition {
  contentType: string;
  body: string;
}

export interface HealthServerOptions {
  port: number;
  host: string;
  health: HealthChecks;
  log: Logger;
  /** Serves `GET /metrics` when given (Prometheus); 404 otherwise. */
  metrics?: () => Promise<MetricsExposition>;
  /**
   * How long a client may take to send its request, headers and all, before it is answered
   * 408 and cut off (default 5000). Node's own defaults (60 s for the headers, 300 s for the
   * request, checked every 30 s) let a client that sends nothing hold a socket for minutes.
   */
  requestTimeoutMs?: number;
  /**
   * Connections open at once (default 64); past it the oldest with no request under way is
   * closed for the new one, or the new one when every one has a request under way.
   */
  maxConnections?: number;
}

const probes: Record<string, { name: string; report: (h: HealthChecks) => HealthReport }> = {
  '/livez': { name: 'livez', report: (h) => h.liveness() },
  '/healthz': { name: 'livez', report: (h) => h.liveness() },
  '/readyz': { name: 'readyz', report: (h) => h.readiness() },
};

/** Kubernetes' verbose probe text: a line per check, then the verdict. */
export function verboseText(name: string, report: HealthReport): string {
  const lines = Object.entries(report.checks).map(([check, result]) =>
    result.ok
      ? `[+]${check} ok`
      : `[-]${check} failed: ${result.detail === undefined ? 'not ok' : JSON.stringify(result.detail)}`,
  );
  lines.push(`${name} check ${report.ok ? 'passed' : 'failed'}`);
  return `${lines.join('\n')}\n`;
}

export class HealthServer {
  readonly #options: HealthServerOptions;
  readonly #log: Logger;
  #server: Server | undefined;
  #closing: Promise<void> | undefined;
  /** The exposition being made: scrapes that come meanwhile share it. */
  #exposition: Promise<MetricsExposition> | undefined;
  /** Connections with a response not yet done (a client that pipelines is cut off). */
  readonly #answering = new WeakSet<object>();

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'health' });
  }

  /** The bound address (port 0 in tests picks a free one). After `start()`. */
  get address(): AddressInfo | undefined {
    return (this.#server?.address() ?? undefined) as AddressInfo | undefined;
  }

  /**
   * Listens; resolves when bound, rejects (ConfigError) when the port cannot be bound. Does
   * nothing after close().
   */
  async start(): Promise<void> {
    if (this.#server !== undefined || this.#closing !== undefined) return;
    const requestTimeoutMs = this.#options.requestTimeoutMs ?? 5000;
    const server = createServer(
      {
        headersTimeout: requestTimeoutMs,
        requestTimeout: requestTimeoutMs,
        // How often Node looks for clients past those timeouts (its default is 30 s).
        connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
        keepAliveTimeout: 1000,
      },
      (req, res) => this.#answer(req, res),
    );
    // The clients are a probe and a scraper: a flood of sockets is refused, not served. Past
    // the bound the oldest idle one goes (a client that sent nothing, or an unfinished
    // request, or a kept-alive connection between requests), not the newcomer: refusing the
    // newest let 64 silent sockets that reconnect when cut (12 connects a second) fail every
    // probe (a review helper's drill: the HEALTHCHECK failed 20 times in 20, while each of
    // them lived its 5 s to the 408).
    const maxConnections = this.#options.maxConnections ?? 64;
    // A socket with a request under way is in #answering until its answer closes.
    const open = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      if (open.size <= maxConnections) return;
      let idle: Socket | undefined;
      for (const other of open) {
        if (other !== socket && !this.#answering.has(other)) {
          idle = other;
          break;
        }
      }
      (idle ?? socket).destroy();
    });
    // A client that stops reading its answer (its socket idle, the answer unsent) is cut off.
    // (Twice the request timeout: one that never finished its request gets its 408 first.)
    server.setTimeout(2 * requestTimeoutMs, (socket) => socket.destroy());
    this.#server = server;
    server.listen(this.#options.port, this.#options.host);
    try {
      // once() rejects with the 'error' event's error: a port in use, a bad host.
      await once(server, 'listening');
    } catch (error) {
      this.#server = undefined;
      throw new ConfigError(
        `the health endpoint cannot listen on ${this.#options.host}:${this.#options.port} (HEALTH_HOST, HEALTH_PORT): ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.#closing !== undefined) return; // closed while it bound: close() ends it
    this.#log.info({ host: this.#options.host, port: this.address?.port }, 'health endpoint on');
  }

  /**
   * Stops listening and ends open connections. Idempotent; before start(), start() then does
   * nothing; while start() binds (a slow lookup of HEALTH_HOST), it waits for the bind to end.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const server = this.#server;
      if (server === undefined) {
        resolve();
        return;
      }
      const end = (): void => {
        server.close(() => resolve());
        server.closeAllConnections();
      };
      if (server.listening) {
        end();
        return;
      }
      // Still binding: it either listens (then close it) or fails (nothing to close).
      const onError = (): void => {
        server.off('listening', onListening);
        resolve();
      };
      const onListening = (): void => {
        server.off('error', onError);
        end();
      };
      server.once('listening', onListening);
      server.once('error', onError);
    });
    return this.#closing;
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    // One request at a time per connection. Node hands over every pipelined request at once
    // and queues the answers: 64 clients pipelining 300 GET /metrics each and reading nothing
    // stalled main for 24 s (the main watchdog's SIGKILL) and took RSS past 1 GB.
    const socket = req.socket;
    if (this.#answering.has(socket)) {
      socket.destroy();
      return;
    }
    this.#answering.add(socket);
    res.once('close', () => this.#answering.delete(socket));
    const url = requestTarget(req.url ?? '/');
    if (url === undefined) {
      send(req, res, 400, 'application/json', JSON.stringify({ error: 'bad request target' }));
      return;
    }
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    const metrics = url.pathname === '/metrics' ? this.#options.metrics : undefined;
    if (!isRead && (metrics !== undefined || Object.hasOwn(probes, url.pathname))) {
      // A resource that is there, asked with another method: 405 and what it allows (RFC 9110),
      // not 404, which told a client with a wrong method that the probe did not exist.
      const body = JSON.stringify({ error: `${url.pathname} answers GET and HEAD` });
      send(req, res, 405, 'application/json', body, { allow: 'GET, HEAD' });
      return;
    }
    const probe = isRead ? probes[url.pathname] : undefined;
    if (req.method === 'HEAD' && metrics !== undefined) {
      // Nothing built: an exposition starts the windows of the figures read "since the last
      // scrape" anew, and a HEAD (a load balancer's check) took a stall from the scraper.
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end();
      return;
    }
    if (isRead && metrics !== undefined) {
      this.#exposition ??= metrics().finally(() => {
        this.#exposition = undefined;
      });
      this.#exposition.then(
        (m) => send(req, res, 200, m.contentType, m.body),
        (error: unknown) => {
          this.#log.warn({ err: error }, 'metrics exposition failed');
          send(req, res, 500, 'text/plain', 'metrics unavailable\n');
        },
      );
      return;
    }
    if (probe === undefined) {
      const body = JSON.stringify({ error: 'GET /livez, /readyz, /healthz or /metrics' });
      send(req, res, 404, 'application/json', body);
      return;
    }
    const verbose = url.searchParams.has('verbose');
    let report: HealthReport;
    let body: string;
    try {
      report = probe.report(this.#options.health);
      // A check's detail or thrown message may quote a secret (a fork's check of a URL with
      // its password): masked as on log lines.
      // By key too (a detail's `token`, `password`: scrubSecrets), as a log line is.
      const safe = scrubSecrets(report);
      body = redactSecrets(verbose ? verboseText(probe.name, safe) : JSON.stringify(safe));
    } catch (error) {
      // A check's detail that JSON cannot write (a BigInt, a cycle), or a report that could not
      // be made: a throw here ended the service with 70 at one request.
      this.#log.warn({ err: error, path: url.pathname }, 'health report cannot be written');
      send(req, res, 500, 'text/plain', 'health report cannot be written\n');
      return;
    }
    const status = report.ok ? 200 : 503;
    send(req, res, status, verbose ? 'text/plain; charset=utf-8' : 'application/json', body);
    if (!report.ok) {
      this.#log.debug({ path: url.pathname, checks: report.checks }, 'health check not ok');
    }
  }
}

/**
 * The path and query of a request target. Its origin form (`/livez?verbose`, what clients
 * send) is split, not given to `new URL()` with a base: that throws on targets such as `//`
 * or `/\`, and a throw in a request handler would end the service (70) at one request.
 * An absolute form (`http://host/livez`, what a proxy may send) is parsed; anything else
 * (`*`, an authority, junk) is not a target this server reads.
 */
export function requestTarget(
  raw: string,
): { pathname: string; searchParams: URLSearchParams } | undefined {
  if (raw.startsWith('/')) {
    const q = raw.indexOf('?');
    if (q === -1) return { pathname: raw, searchParams: new URLSearchParams() };
    return { pathname: raw.slice(0, q), searchParams: new URLSearchParams(raw.slice(q + 1)) };
  }
  if (!URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
