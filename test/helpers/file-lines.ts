import { closeSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';

/**
 * Follows a growing text file line by line (inotify through fs.watch, no polling) and lets a
 * test wait for a line, by event, with a timeout. Each line is parsed as JSON when it is JSON
 * (the service's log lines) and kept as text otherwise (supervisord's own lines).
 * `close()` stops following; idempotent.
 */

export interface FileLine {
  text: string;
  /** The parsed object when the line is a JSON object. */
  json?: Record<string, unknown>;
}

type Match = (line: FileLine) => boolean;

export class FileLines {
  readonly lines: FileLine[] = [];
  readonly #fd: number;
  readonly #watcher: FSWatcher;
  #offset = 0;
  #partial = '';
  #closed = false;
  #waiters: Array<{ match: Match; from: number; resolve: (l: FileLine) => void }> = [];

  constructor(path: string) {
    this.#fd = openSync(path, 'r');
    this.#watcher = watch(path, () => this.#drain());
    this.#drain();
  }

  /**
   * Resolves with the first line at index `from` or later (seen or to come) that matches;
   * rejects after timeoutMs, quoting the last lines.
   */
  waitFor(match: string | RegExp | Match, timeoutMs = 15_000, from = 0): Promise<FileLine> {
    this.#drain();
    const test = toMatch(match);
    const seen = this.lines.slice(from).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(`no line ${String(match)} within ${timeoutMs} ms; last lines:\n${this.tail()}`),
        );
      }, timeoutMs);
      const waiter = {
        match: test,
        from,
        resolve: (line: FileLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** The lines that match, so far. */
  filter(match: string | RegExp | Match): FileLine[] {
    this.#drain();
    return this.lines.filter(toMatch(match));
  }

  tail(n = 25): string {
    return this.lines
      .slice(-n)
      .map((l) => l.text.slice(0, 300))
      .join('\n');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    closeSync(this.#fd);
  }

  #drain(): void {
    if (this.#closed) return;
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.#fd, buffer, 0, buffer.length, this.#offset);
      if (n === 0) break;
      this.#offset += n;
      const parts = (this.#partial + buffer.toString('utf8', 0, n)).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const text of parts) this.#push(text);
    }
  }

  #push(text: string): void {
    const line: FileLine = { text };
    if (text.startsWith('{')) {
      try {
        line.json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // Not JSON after all: kept as text.
      }
    }
    const index = this.lines.push(line) - 1;
    this.#waiters = this.#waiters.filter((w) => {
      if (index < w.from || !w.match(line)) return true;
      w.resolve(line);
      return false;
    });
  }
}

function toMatch(match: string | RegExp | Match): Match {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (l) => l.text.includes(match);
  return (l) => match.test(l.text);
}
