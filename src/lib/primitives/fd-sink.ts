import { writeSync } from 'node:fs';

/**
 * The main thread's log output: every line written to a file descriptor (stdout) at once, by
 * a blocking write, so nothing waits in a buffer and nothing is lost at exit.
 *
 * A write that cannot succeed is not retried: the reader is gone (EPIPE: the supervisor or the
 * pipe's other end died), the terminal is gone (EIO), the disk is full (ENOSPC), the
 * descriptor is closed (EBADF). The sink keeps the first such error, tells its listeners once
 * (on a later turn, never inside the write that failed), and drops every line after it. Only
 * a full pipe is waited out (EAGAIN, when something made the descriptor non-blocking), as a
 * blocking write waits for its reader.
 *
 * Why not pino's own destination (sonic-boom): it set aside EPIPE silently, so a service whose
 * output had gone kept running unseen; and its `flushSync` retried any other failed write for
 * ever, 100 ms at a time, in the main thread, so a TERM with stdout on a full disk hung the
 * process until a KILL.
 */
export class FdSink {
  readonly #fd: number;
  readonly #format: ((line: string) => string) | undefined;
  readonly #listeners: ((error: Error) => void)[] = [];
  #failure: Error | undefined;
  #dropped = 0;

  /** `format`, when given, turns each line into what is written (pino-pretty's). */
  constructor(fd: number, format?: (line: string) => string) {
    this.#fd = fd;
    this.#format = format;
  }

  /** The write that failed, once one has: nothing is written after it. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Lines not written: the one that failed and every one after it. */
  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): boolean {
    this.#put(line, this.#format);
    return true;
  }

  /** Writes `text` as it is, never through `format` (console output, which is no log line). */
  writeText(text: string): void {
    this.#put(text, undefined);
  }

  #put(text: string, format: ((line: string) => string) | undefined): void {
    if (this.#failure !== undefined) {
      this.#dropped += 1;
      return;
    }
    try {
      writeFully(this.#fd, format === undefined ? text : format(text));
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Nothing is buffered: every line was written, or dropped, when it came. */
  flushSync(): void {
    // A blocking write per line leaves nothing to flush.
  }

  /** Calls `listener` once with the failure, on a later turn (at once if it already failed). */
  onFailure(listener: (error: Error) => void): void {
    const failure = this.#failure;
    if (failure === undefined) this.#listeners.push(listener);
    else setImmediate(() => listener(failure));
  }

  #fail(error: Error): void {
    this.#failure = error;
    this.#dropped += 1;
    for (const listener of this.#listeners.splice(0)) setImmediate(() => listener(error));
  }
}

/** Writes what may take more than one call (a pipe takes part of a large write at a time). */
function writeFully(fd: number, text: string): void {
  const written = writeWaiting(fd, text);
  if (written === Buffer.byteLength(text)) return;
  let rest = Buffer.from(text).subarray(written);
  while (rest.length > 0) rest = rest.subarray(writeWaiting(fd, rest));
}

const busyWaitMs = 10;
const busy = new Int32Array(new SharedArrayBuffer(4));

/** One write; a full non-blocking pipe is waited out. Any other failure is thrown. */
function writeWaiting(fd: number, data: string | Buffer): number {
  for (;;) {
    try {
      return typeof data === 'string' ? writeSync(fd, data) : writeSync(fd, data);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw error;
      // A blocking write would wait here for the reader; this descriptor cannot, so it waits
      // a moment and tries again.
      Atomics.wait(busy, 0, 0, busyWaitMs);
    }
  }
}

/** Writes `text` to stderr if it can: for what must be said when the log output is gone. */
export function writeStderr(text: string): void {
  try {
    writeFully(2, text);
  } catch {
    // Nowhere left to say it.
  }
}
