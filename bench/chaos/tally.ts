/**
 * What the chaos soak's observer saw: every message it published (by id and kind), every
 * result and every failed-queue message that came back, and the time of each new result.
 * Pure bookkeeping, no I/O.
 */

/** `event` is a plain event, `transient` fails once and is retried, `poison` must fail. */
export type MessageKind = 'event' | 'transient' | 'poison';

export interface Gap {
  ms: number;
  /** Receipt times of the results either side of the gap (ISO). */
  from: string;
  to: string;
}

export class Tally {
  readonly published = new Map<string, MessageKind>();
  /** id -> how many results arrived for it (more than one: a duplicate). */
  readonly results = new Map<string, number>();
  /** id -> how many times it arrived in the failed queue. */
  readonly failed = new Map<string, number>();
  /** Results the observer itself got twice (redelivered to it after the broker restarted). */
  observerRedeliveries = 0;
  /** Results or failed messages without a message id we published. */
  strangers = 0;
  /** Receipt time (ms since epoch) of every result, in order. */
  readonly resultTimes: number[] = [];
  /** Receipt time of every duplicate result (a second or later one for its id). */
  readonly duplicateTimes: number[] = [];
  #plainLeft = 0;
  #poisonLeft = 0;
  readonly #seenBodies = new Set<string>();
  readonly #waiters = new Set<() => void>();

  /** Records a message as published (sent; its confirm may still be on its way). Once per id. */
  publish(id: string, kind: MessageKind): void {
    this.published.set(id, kind);
    if (kind === 'poison') this.#poisonLeft++;
    else this.#plainLeft++;
    this.#progress();
  }

  #progress(): void {
    for (const check of [...this.#waiters]) check();
  }

  /**
   * Records a result. `redelivered` results whose body was seen before are the observer's own
   * redeliveries (it had them unacked when the broker went away), not the service's duplicates.
   */
  result(id: string | undefined, body: string, redelivered: boolean, at: number): void {
    const key = `${id}\n${body}`;
    if (redelivered && this.#seenBodies.has(key)) {
      this.observerRedeliveries++;
      return;
    }
    this.#seenBodies.add(key);
    if (id === undefined || !this.published.has(id)) {
      this.strangers++;
      return;
    }
    const count = this.results.get(id) ?? 0;
    this.results.set(id, count + 1);
    if (count === 0 && this.published.get(id) !== 'poison') this.#plainLeft--;
    if (count > 0) this.duplicateTimes.push(at);
    this.resultTimes.push(at);
    this.#progress();
  }

  /** Records a message seen in the failed queue. */
  failure(id: string | undefined): void {
    if (id === undefined || !this.published.has(id)) {
      this.strangers++;
      return;
    }
    const count = this.failed.get(id) ?? 0;
    this.failed.set(id, count + 1);
    if (count === 0 && this.published.get(id) === 'poison') this.#poisonLeft--;
    this.#progress();
  }

  /** True when every published non-poison message has a result and every poison one failed. */
  get isComplete(): boolean {
    return this.#plainLeft === 0 && this.#poisonLeft === 0;
  }

  /** Non-poison messages published and still without a result. */
  get outstanding(): number {
    return this.#plainLeft;
  }

  /** Resolves once `holds()` is true (checked at each record); rejects when `signal` aborts. */
  until(holds: () => boolean, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(check);
        reject(signal.reason as Error);
      };
      const check = (): void => {
        if (!holds()) return;
        this.#waiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(check);
      check();
    });
  }

  /** The longest time between two consecutive results. */
  longestGap(): Gap {
    let best: Gap = { ms: 0, from: '', to: '' };
    for (let i = 1; i < this.resultTimes.length; i++) {
      const from = this.resultTimes[i - 1] as number;
      const to = this.resultTimes[i] as number;
      if (to - from > best.ms) {
        best = {
          ms: to - from,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
        };
      }
    }
    return best;
  }

  /** Receipt time of the first result at or after `at` (ms since epoch), if any yet. */
  firstResultAfter(at: number): number | undefined {
    return this.resultTimes.find((t) => t >= at);
  }

  /** The end-of-run counts. */
  summary(): {
    lost: string[];
    duplicates: number;
    poisonFailed: number;
    poisonMissing: string[];
    unexpectedFailed: string[];
  } {
    const lost: string[] = [];
    const poisonMissing: string[] = [];
    const unexpectedFailed: string[] = [];
    let duplicates = 0;
    let poisonFailed = 0;
    for (const [id, kind] of this.published) {
      const results = this.results.get(id) ?? 0;
      duplicates += Math.max(0, results - 1);
      if (kind === 'poison') {
        if (this.failed.has(id)) poisonFailed++;
        else poisonMissing.push(id);
      } else {
        if (results === 0) lost.push(id);
        if (this.failed.has(id)) unexpectedFailed.push(id);
      }
    }
    return { lost, duplicates, poisonFailed, poisonMissing, unexpectedFailed };
  }
}
