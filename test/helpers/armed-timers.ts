import assert from 'node:assert/strict';

/**
 * Watches the timers armed through the globals (setTimeout, setInterval) from `watch()` to
 * `assertNoneArmed()`. An unref'd timer keeps nothing alive, so a leaked one goes unseen: it
 * fires seconds later into another test, or into nothing. The check fails the test with each
 * timer still armed and where it was armed, then disarms them so one leak does not spread.
 */
export class ArmedTimers {
  readonly #armed = new Map<NodeJS.Timeout, string>();
  readonly #real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
  };

  static #active = false;

  /** Starts watching: replaces the four globals until `assertNoneArmed()`. One at a time. */
  static watch(): ArmedTimers {
    if (ArmedTimers.#active) throw new Error('a timer watch is already active');
    ArmedTimers.#active = true;
    const watch = new ArmedTimers();
    watch.#install();
    return watch;
  }

  /** Restores the globals; throws an AssertionError naming every timer still armed. */
  assertNoneArmed(): void {
    Object.assign(globalThis, this.#real);
    ArmedTimers.#active = false;
    const left = [...this.#armed];
    for (const [handle] of left) this.#real.clearTimeout(handle);
    this.#armed.clear();
    assert.deepEqual(
      left.map(([, where]) => where),
      [],
      'timers left armed after the test',
    );
  }

  #install(): void {
    const real = this.#real;
    const armed = this.#armed;
    const where = (kind: string, ms: unknown): string =>
      `${kind} ${String(ms)} ms ${new Error().stack?.split('\n')[3]?.trim() ?? '?'}`;
    const setTimeoutWatched = (
      fn: (...args: unknown[]) => void,
      ms?: number,
      ...args: unknown[]
    ) => {
      const handle = real.setTimeout(
        (...a: unknown[]) => {
          armed.delete(handle);
          fn(...a);
        },
        ms,
        ...args,
      );
      armed.set(handle, where('setTimeout', ms));
      return handle;
    };
    const setIntervalWatched = (
      fn: (...args: unknown[]) => void,
      ms?: number,
      ...args: unknown[]
    ) => {
      const handle = real.setInterval(fn, ms, ...args);
      armed.set(handle, where('setInterval', ms));
      return handle;
    };
    const clear = (handle: NodeJS.Timeout | string | number | undefined): void => {
      if (typeof handle === 'object') armed.delete(handle);
      real.clearTimeout(handle);
    };
    Object.assign(globalThis, {
      setTimeout: setTimeoutWatched,
      setInterval: setIntervalWatched,
      clearTimeout: clear,
      clearInterval: clear,
    });
  }
}
