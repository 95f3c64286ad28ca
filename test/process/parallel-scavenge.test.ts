import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { mainScript, repoRoot, testEnv } from '../helpers/service-process.js';
import { parseGcTraceLine } from '../helpers/gc-trace.js';

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
  const child = spawn(process.execPath, [mainScript], {
    cwd: repoRoot,
    // Warnings only: V8's lines share stdout with the log, and every log line may cut one.
    env: testEnv({ NODE_OPTIONS: `--import=${probe}`, LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const byThread: Scavenges = new Map();
  createInterface({ input: child.stdout }).on('line', (text) => {
    const gc = parseGcTraceLine(text);
    // The main thread (0) churned before the settings were applied.
    if (gc === undefined || gc.kind !== 's' || gc.threadId === 0) return;
    const key = String(gc.threadId);
    const thread = byThread.get(key) ?? { scavenges: 0, helped: 0 };
    thread.scavenges++;
    if (gc.helpersMs > 0) thread.helped++;
    byThread.set(key, thread);
  });
  const probes = new Set<string>();
  const stderr: string[] = [];
  try {
    // The fixture runs 3 worker threads; each says when its churn is done.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${probes.size} of 3 probes reported; stderr:\n${stderr.join('\n')}`));
      }, 60_000);
      createInterface({ input: child.stderr }).on('line', (text) => {
        stderr.push(text);
        if (text.startsWith('scavenge-probe ')) probes.add(text);
        if (probes.size < 3) return;
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    child.kill('SIGTERM');
    await exited; // V8's trace lines are written out at exit
  }
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
