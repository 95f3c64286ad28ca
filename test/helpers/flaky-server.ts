import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP server that fails on command, for testing outbound calls against a real
 * socket. Each request takes the next planned answer (a status code, or 'hang' to never
 * answer), then the fallback once the plan is used up. It records every request with its
 * arrival time, and whether the client aborted it before an answer went out.
 */

export type Answer = number | 'hang';

export interface RecordedRequest {
  at: number;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Resolves true when the client closed the connection before an answer. */
  aborted: Promise<boolean>;
}

export class FlakyServer {
  readonly requests: RecordedRequest[] = [];
  #server: Server | undefined;
  #plan: Answer[] = [];
  #fallback: Answer = 200;
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  /**
   * Starts listening on 127.0.0.1 at a free port; resolves with the URL to call. On failure,
   * prints why (naming `label`, the test file) and rejects.
   */
  async start(label = 'FlakyServer'): Promise<string> {
    try {
      this.#server = createServer((req, res) => void this.#handle(req, res));
      this.#server.listen(0, '127.0.0.1');
      await once(this.#server, 'listening');
      return this.url;
    } catch (error) {
      console.error(`${label}: cannot start the loopback HTTP server:`, error);
      throw error;
    }
  }

  get url(): string {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('server not started');
    return `http://127.0.0.1:${address.port}/hook`;
  }

  /** The next answers, in order; afterwards every request gets `fallback`. */
  plan(answers: Answer[], fallback: Answer = 200): void {
    this.#plan = [...answers];
    this.#fallback = fallback;
  }

  /** Resolves once `count` requests in all have arrived; rejects after `timeoutMs`. */
  async waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.requests.length >= count) return;
    const arrived = new Promise<void>((resolve) => this.#waiters.push({ count, resolve }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.requests.length} of ${count} requests in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([arrived, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops listening and cuts every open connection (hanging ones included). Idempotent. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = this.#plan.shift() ?? this.#fallback;
    let answered = false;
    const aborted = new Promise<boolean>((resolve) => {
      res.on('close', () => resolve(!answered));
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.requests.push({
      at: performance.now(),
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      aborted,
    });
    this.#waiters = this.#waiters.filter((w) => {
      if (this.requests.length < w.count) return true;
      w.resolve();
      return false;
    });
    if (answer === 'hang') return;
    answered = true;
    res.writeHead(answer, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: answer }));
  }
}
