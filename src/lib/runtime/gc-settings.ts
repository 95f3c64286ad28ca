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
 *
 * The old generation grows by `threads.heapGrowingPercent` over what a full GC left live
 * (V8's `--heap-growing-percent`; 0 gives V8's own factor back). V8 picks that factor from its
 * GC and allocation speeds, bounded by the heap's limit, which it sizes from the machine's RAM:
 * on a machine with gigabytes, up to 4x, so a thread holding 15 MiB of live objects may take 60
 * before collecting. A fixed 50% held a sustained drain's RSS peak about 40 MiB lower for no
 * CPU cost measurable in the pipeline (docs/performance.md). Unlike a cap on the old
 * generation (`--max-old-space-size`), it never turns a fork's larger live data into a fatal
 * out-of-memory. V8 reads it after every full GC, when it sets the next limit.
 */
export function applyGcSettings(settings: {
  parallelScavenge: boolean;
  heapGrowingPercent: number;
}): void {
  setFlagsFromString(settings.parallelScavenge ? '--parallel-scavenge' : '--no-parallel-scavenge');
  setFlagsFromString(`--heap-growing-percent=${String(settings.heapGrowingPercent)}`);
}
