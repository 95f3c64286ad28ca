import { setFlagsFromString } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

/**
 * A preload for `bench/amqp/gc.ts` (`--import=<this file>` in NODE_OPTIONS, where V8's own
 * `--trace-gc-nvp` is refused): turns that flag on from the main thread, so every isolate of
 * the process (V8's flags are the process's) prints one line per GC to stdout:
 * `[pid:isolate:threadId] ... gc=s ... pause=<ms> ... background.scavenge.parallel=<ms> ...`.
 */
if (isMainThread) setFlagsFromString('--trace-gc-nvp');
