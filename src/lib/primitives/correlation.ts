import { AsyncLocalStorage } from 'node:async_hooks';
const { randomUUID } = process.getBuiltinModule('node:crypto');

/**
 * The correlation id of the work in progress, carried through async calls of one thread by
 * AsyncLocalStorage, and across threads by the thread channel (which sends it with each
 * message and restores it on the other side).
 */
const storage = new AsyncLocalStorage<string>();

/** Runs `fn` with `id` as the current correlation id. */
export function withCorrelationId<T>(id: string | undefined, fn: () => T): T {
  return id === undefined ? fn() : storage.run(id, fn);
}

/** The current correlation id, or undefined outside any. */
export function currentCorrelationId(): string | undefined {
  return storage.getStore();
}

export function newCorrelationId(): string {
  return randomUUID();
}
