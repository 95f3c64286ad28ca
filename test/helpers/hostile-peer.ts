import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP server that answers every request the way a broken or hostile peer does, for
 * the telemetry sinks' tests (InfluxDB, the OTLP collector, Sentry):
 * - 'silent': reads the request and never answers;
 * - 'trickle': answers `status` and sends its body one byte every `trickleMs`, never ending;
 * - 'endless': answers `status` and sends its body as fast as the client reads it, never ending.
 * It counts, per request, the body bytes written into the socket and whether the client has
 * closed the connection. `close()` ends every connection.
 */

export type PeerMode = 'silent' | 'trickle' | 'endless';

export interface HostilePeerOptions {
  mode: PeerMode;
  status?: number;
  contentType?: string;
  trickleMs?: number;
}

export interface PeerRequest {
  method: string;
  url: string;
  /** Body bytes written so far. */
  sent: number;
  /** Set when the client closed the connection. */
  closed: boolean;
}

const chunk = Buffer.alloc(64 * 1024, 'x');

export class HostilePeer {
  readonly requests: PeerRequest[] = [];
  readonly #options: HostilePeerOptions;
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(options: HostilePeerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      const seen: PeerRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        sent: 0,
        closed: false,
      };
      this.requests.push(seen);
      for (const w of this.#waiters.filter((w) => this.requests.length >= w.count)) w.resolve();
      res.on('close', () => (seen.closed = true));
      req.resume();
      req.on('end', () => this.#answer(res, seen));
    });
  }

  /** Listens on 127.0.0.1 on a free port; resolves with the base URL. */
  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Requests whose connection is still open. */
  get open(): number {
    return this.requests.filter((r) => !r.closed).length;
  }

  /** The most body bytes written to one request. */
  get mostSent(): number {
    return Math.max(0, ...this.requests.map((r) => r.sent));
  }

  /** Resolves once `count` requests have arrived; rejects after timeoutMs. */
  waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.requests.length} requests, not ${count}, within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Stops listening and ends every connection. Idempotent. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    if (this.#server.listening) await new Promise((resolve) => this.#server.close(resolve));
  }

  #answer(res: ServerResponse, seen: PeerRequest): void {
    const { mode, status = 200, contentType = 'text/plain' } = this.#options;
    if (mode === 'silent') return;
    res.writeHead(status, { 'content-type': contentType });
    if (mode === 'trickle') {
      const timer = setInterval(() => {
        if (res.destroyed) {
          clearInterval(timer);
          return;
        }
        res.write('x');
        seen.sent++;
      }, this.#options.trickleMs ?? 500);
      this.#timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        this.#timers.delete(timer);
      });
      return;
    }
    if (contentType.startsWith('application/json')) {
      res.write('{"message":"');
      seen.sent += 12;
    }
    const pump = (): void => {
      while (!res.destroyed) {
        seen.sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    pump();
  }
}
