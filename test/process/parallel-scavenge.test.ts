import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseGcTraceLine } from '../helpers/gc-trace.js';
import { probedService } from '../helpers/probed-service.js';

/**
 * V8's parallel scavenge is off in the running service unless PARALLEL_SCAVENGE says
 * otherwise (runtime/gc-settings.ts): a preload traces every GC of every thread and churns
 * objects in each worker thread (test/fixtures/scavenge-probe.ts); a scavenge that helper
 * threads joined shows time in `background.scavenge.parallel`.
 */

const probe = fileURLToPath(new URL('../fixtures/scavenge-probe.js', import.meta.url));

type Scavenges = Map<string, { scavenges: number; helped: number }>;

/** Each worker thread's scavenges in the fixture service: how many, how many were helped. */
async function workerScavenges(env: Record<string, string>): Promise<Scavenges> {
  const byThread: Scavenges = new Map();
  // The fixture runs 3 worker threads; each says when its churn is done.
  const probed = await probedService<{ thread: number }>({
    probe,
    prefix: 'scavenge-probe',
    count: 3,
    env,
    onStdout: (text) => {
      const gc = parseGcTraceLine(text);
      // The main thread (0) churned before the settings were applied.
      if (gc === undefined || gc.kind !== 's' || gc.threadId === 0) return;
      const key = String(gc.threadId);
      const thread = byThread.get(key) ?? { scavenges: 0, helped: 0 };
      thread.scavenges++;
      if (gc.helpersMs > 0) thread.helped++;
      byThread.set(key, thread);
    },
  });
  // Only the probed threads: V8 would trace the GCs of any other thread in the process too.
  const workers = new Set(probed.map((p) => String(p.thread)));
  for (const key of byThread.keys()) if (!workers.has(key)) byThread.delete(key);
  assert.equal(byThread.size, 3, `every worker traced: ${JSON.stringify([...byThread])}`);
  for (const [, { scavenges }] of byThread) assert.ok(scavenges >= 20, 'the probe scavenged');
  return byThread;
}

describe('parallel scavenge', { timeout: 150_000 }, () => {
  test('is off by default: no worker thread scavenge has helper threads', async () => {
    const byThread = await workerScavenges({});
    const helped = [...byThread].filter(([, t]) => t.helped > 0);
    assert.deepEqual(helped, [], JSON.stringify([...byThread]));
  });

  test('PARALLEL_SCAVENGE=true brings the helpers back, so the probe sees the difference', async () => {
    const byThread = await workerScavenges({ PARALLEL_SCAVENGE: 'true' });
    const helped = [...byThread].reduce((n, [, t]) => n + t.helped, 0);
    assert.ok(helped > 0, JSON.stringify([...byThread]));
  });
});
