import { runWorker } from '../../src/lib/threads/run-worker.js';
import { untilAborted } from '../../src/lib/primitives/waits.js';
import type { ChannelContract } from '../../src/lib/threads/thread-channel.js';

/** Bench worker under the core: counts notes from main; says `done` after every `count`. */
export interface CountContract {
  request: { n: number; total: number };
  response: void;
}
export interface DoneContract {
  request: { done: number };
  response: void;
}

runWorker(async (ctx) => {
  let seen = 0;
  const back = ctx.main.as<DoneContract>();
  ctx.main.as<ChannelContract, CountContract>().serve(({ total }) => {
    if (++seen === total) {
      back.notify({ done: seen });
      seen = 0;
    }
  });
  await untilAborted(ctx.signal);
});
