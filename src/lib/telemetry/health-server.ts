import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { HealthChecks, HealthReport } from '../health.js';
import { ConfigError } from '../errors.js';

/**
 * The health endpoint (node:http): `GET /healthz` answers liveness, `GET /readyz` readiness,
 * each as JSON `{ ok, checks: { name: { ok, detail } } }` with status 200 or 503. Bound to
 * 127.0.0.1 unless told otherwise; off when no port is configured. A blocked main event loop
 * cannot answer at all, which a probe with a timeout reads as "not live", as it should.
 */

export interface HealthServerOptions {
  port: number;
  host: string;
  health: HealthChecks;
  log: Logger;
}

export class HealthServer {
  readonly #options: HealthServerOptions;
  readonly #log: Logger;
  #server: Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'health' });
  }

  /** The bound address (port 0 in tests picks a free one). After `start()`. */
  get address(): AddressInfo | undefined {
    return (this.#server?.address() ?? undefined) as AddressInfo | undefined;
  }

  /** Listens; resolves when bound, rejects when the port cannot be bound. Not after close(). */
  async start(): Promise<void> {
    if (this.#server !== undefined || this.#closing !== undefined) return;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      let report: HealthReport | undefined;
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (path === '/healthz' || path === '/livez') report = this.#options.health.liveness();
        else if (path === '/readyz') report = this.#options.health.readiness();
      }
      const status = report === undefined ? 404 : report.ok ? 200 : 503;
      const body = JSON.stringify(report ?? { error: 'GET /healthz or /readyz' });
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (report !== undefined && !report.ok) {
        this.#log.debug({ path, checks: report.checks }, 'health check not ok');
      }
    });
    server.keepAliveTimeout = 1000;
    this.#server = server;
    server.listen(this.#options.port, this.#options.host);
    try {
      // once() rejects with the 'error' event's error: a port in use, a bad host.
      await once(server, 'listening');
    } catch (error) {
      throw new ConfigError(
        `the health endpoint cannot listen on ${this.#options.host}:${this.#options.port} (HEALTH_HOST, HEALTH_PORT): ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#log.info({ host: this.#options.host, port: this.address?.port }, 'health endpoint on');
  }

  /** Stops listening and ends open connections. Idempotent; before start(), start() then does nothing. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const server = this.#server;
      if (server === undefined || !server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return this.#closing;
  }
}
