import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { threadId } from 'node:worker_threads';

/**
 * A preload for the start-up analysis (`--import=<this file>`; it runs in the main thread and
 * in every worker thread): appends `<threadId>\t<ms since the thread's start>\t<url>` to the
 * file named by BENCH_MODULE_LOG for every module the thread loads (ESM and CommonJS alike).
 */
const out = process.env['BENCH_MODULE_LOG'];
if (out !== undefined && out !== '') {
  registerHooks({
    load(url, context, next) {
      appendFileSync(out, `${threadId}\t${performance.now().toFixed(1)}\t${url}\n`);
      return next(url, context);
    },
  });
}
