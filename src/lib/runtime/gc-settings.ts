import { setFlagsFromString } from 'node:v8';

/**
 * The service's settings of V8's garbage collector that can be made at run time, applied once
 * in the main thread as soon as the config is read (before any worker thread starts: V8's
 * flags are the process's, so every isolate has them). The young generation's cap cannot be
 * set here (V8 reads it when an isolate is made): see `threads.maxSemiSpaceMb`.
 *
 * Parallel scavenge is off unless `threads.parallelScavenge` says otherwise. With the service's
 * small young generation (2 MiB semi-spaces) on a machine of 2 cores that a broker shares, the
 * helper threads that join each young-generation GC cost more CPU than they save: draining
 * 20,000 events through the sample, the scavenges' CPU (their pauses in the thread plus the
 * helpers' time, from `--trace-gc-nvp`) was 31-41 us a message with it and 21-27 without, the
 * pauses no longer (docs/performance.md). V8 reads this flag at every scavenge, so it holds
 * from the next one on.
 */
export function applyGcSettings(settings: { parallelScavenge: boolean }): void {
  setFlagsFromString(settings.parallelScavenge ? '--parallel-scavenge' : '--no-parallel-scavenge');
}
