import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that holds each new connection for `delayMs` before it connects it to
 * the target: a broker some way off, for start-ups with a slow connect. `close()` ends every
 * connection it carries.
 */
export class SlowProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  /** Connections accepted so far. */
  accepted = 0;
  readonly #onAccept: Array<() => void> = [];

  /** `delayMs`: one delay for every connection, or one by the connection's number (from 0). */
  constructor(target: { host: string; port: number }, delayMs: number | ((n: number) => number)) {
    this.#server = createServer((client) => {
      this.#track(client);
      client.pause();
      const n = this.accepted++;
      for (const resolve of this.#onAccept.splice(0)) resolve();
      const delay = typeof delayMs === 'number' ? delayMs : delayMs(n);
      const timer = setTimeout(() => {
        const upstream = this.#track(connect(target));
        client.pipe(upstream).pipe(client);
        client.resume();
      }, delay);
      client.once('close', () => clearTimeout(timer));
    });
  }

  /** Listens on 127.0.0.1 at a free port; resolves with the port. */
  async start(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  /** Resolves once `count` connections have been accepted. */
  async untilAccepted(count: number): Promise<void> {
    while (this.accepted < count) {
      await new Promise<void>((resolve) => this.#onAccept.push(resolve));
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (this.#server.listening) {
      this.#server.close();
      await once(this.#server, 'close');
    }
  }

  #track(socket: Socket): Socket {
    this.#sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.#sockets.delete(socket));
    return socket;
  }
}
