/** What can be ended with an error and says when it closed: a request, a socket. */
export interface Destroyable {
  destroy(error?: Error): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Ends `stream` with an error saying `message`, `ms` from now, unless it closed first: a request
 * or a socket bounded as a whole, answered or not. A socket's timeout is its idle time only, and
 * a peer that answers a byte at a time is never idle. The timer holds nothing open.
 */
export function destroyAfter(stream: Destroyable, ms: number, message: string): void {
  const timer = setTimeout(() => stream.destroy(new Error(message)), ms);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
}
