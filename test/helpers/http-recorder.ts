import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A loopback HTTP server that records what a real client library sent (the edge of a paid
 * SaaS: Sentry, cronitor). It answers each request by its `mode`: 'ok' (200), 'error' (500),
 * 'hang' (never answers; the connection stays open until `close()`), 'trickle' (200, then a
 * byte of body every 100 ms, never the end: a socket's idle timeout never fires), 'huge' (200
 * with 1 MiB of body, chunked) or 'redirect' (302 to its own path with an x added). Tests
 * wait for requests by event, with a timeout.
 */

export interface RecordedRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type RecorderMode = 'ok' | 'error' | 'hang' | 'trickle' | 'huge' | 'redirect';

export class HttpRecorder {
  readonly requests: RecordedRequest[] = [];
  mode: RecorderMode;
  readonly #server: Server;
  readonly #hanging = new Set<ServerResponse>();
  readonly #trickling = new Set<ServerResponse>();
  #waiters: Array<{ match: (r: RecordedRequest) => boolean; resolve: () => void }> = [];

  constructor(mode: RecorderMode = 'ok') {
    this.mode = mode;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#onRequest(req, res, Buffer.concat(chunks)));
    });
  }

  /** Listens on 127.0.0.1 on a free port; resolves with the base URL (no trailing slash). */
  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this.baseUrl;
  }

  /** Answers still trickling ('trickle' mode): their client has not closed them. */
  get trickling(): number {
    return this.#trickling.size;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves when a request (seen or to come) matches; rejects after timeoutMs. */
  waitFor(match: (r: RecordedRequest) => boolean, timeoutMs = 10_000): Promise<void> {
    if (this.requests.some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching request within ${timeoutMs} ms; got ${this.describe()}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  describe(): string {
    return JSON.stringify(this.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`));
  }

  /** Stops listening and ends every connection, hanging ones included. Idempotent. */
  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    if (this.#server.listening) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
  }

  #onRequest(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    const recorded = {
      method: req.method ?? '',
      url: new URL(req.url ?? '/', this.baseUrl),
      headers: req.headers,
      body,
    };
    this.requests.push(recorded);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(recorded)) return true;
      w.resolve();
      return false;
    });
    if (this.mode === 'hang') {
      this.#hanging.add(res);
      return;
    }
    if (this.mode === 'trickle') {
      this.#hanging.add(res);
      this.#trickling.add(res);
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('.'), 100);
      res.on('close', () => {
        clearInterval(drip);
        this.#trickling.delete(res);
      });
      return;
    }
    if (this.mode === 'huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      // A client that stops reading at its limit destroys the socket under the write.
      res.on('error', () => undefined);
      res.end(Buffer.alloc(1024 * 1024, ' '));
      return;
    }
    if (this.mode === 'redirect') {
      res.writeHead(302, { location: `${recorded.url.pathname}x${recorded.url.search}` });
      res.end();
      return;
    }
    res.writeHead(this.mode === 'ok' ? 200 : 500, { 'content-type': 'application/json' });
    res.end(this.mode === 'ok' ? '{}' : '{"error":"recorder says no"}');
  }
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
