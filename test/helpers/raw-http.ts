import { connect } from 'node:net';

/** What a raw HTTP exchange got: the bytes the server sent and when it closed the socket. */
export interface RawExchange {
  /** Everything the server wrote, as text. */
  response: string;
  /** The status code of the first response, or undefined when none came. */
  status: number | undefined;
  /** Milliseconds from connecting to the server closing the socket. */
  closedAfterMs: number;
}

/**
 * Sends `text` as is on a new TCP connection to 127.0.0.1:`port` (no HTTP client in between,
 * so a target `fetch` would normalise, or a request never finished, reaches the server as
 * written) and resolves when the server closes the socket; rejects past `timeoutMs`.
 */
export function rawHttp(port: number, text: string, timeoutMs = 10_000): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the socket open past ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {}); // a reset is a close too: 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const response = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1];
      resolve({
        response,
        status: status === undefined ? undefined : Number(status),
        closedAfterMs: performance.now() - started,
      });
    });
  });
}
