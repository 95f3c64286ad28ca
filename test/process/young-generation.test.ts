import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { mainScript, repoRoot, testEnv } from '../helpers/service-process.js';
import { Supervisord } from '../helpers/supervisord.js';

/**
 * The young-generation cap (MAX_SEMI_SPACE_MB, docs/performance.md) is in the running service,
 * however it is started: a preload in every thread churns objects and reports how far V8 let
 * its new space grow (test/fixtures/new-space-probe.ts). V8's default reaches 32 MiB; the
 * 2 MiB cap keeps it near 4. The sample (npm start, supervisord) and the fixture service (plain
 * node) each run the main thread and 3 workers.
 */

const probe = fileURLToPath(new URL('../fixtures/new-space-probe.js', import.meta.url));
const threads = 4;
type Sizes = Map<string, number>;

/** Reads probe lines from `input` until every thread has reported. */
async function sizesFrom(input: NodeJS.ReadableStream, timeoutMs = 30_000): Promise<Sizes> {
  const sizes: Sizes = new Map();
  const lines = createInterface({ input });
  const timer = AbortSignal.timeout(timeoutMs);
  try {
    for await (const line of lines) {
      timer.throwIfAborted();
      const m = /new-space-probe (\{.*\})/.exec(line);
      if (m === null) continue;
      const { thread, newSpaceMb } = JSON.parse(m[1]!) as { thread: string; newSpaceMb: number };
      sizes.set(thread, newSpaceMb);
      if (sizes.size === threads) return sizes;
    }
  } finally {
    lines.close();
  }
  throw new Error(`only ${String(sizes.size)} of ${String(threads)} threads reported`);
}

/** The service started by `command`, with the probe; resolves with each thread's new space. */
async function run(command: string, args: string[], env: Record<string, string>): Promise<Sizes> {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, ...testEnv({ NODE_OPTIONS: `--import=${probe}`, ...env }) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  try {
    return await sizesFrom(child.stderr);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

// The bound has margin: capped at 2 MiB, V8's new space was seen at 4 to 8.25 MiB (it may
// briefly hold more than its two semi-spaces); uncapped it reaches 32.
const capped = (sizes: Sizes) => [...sizes].filter(([, mb]) => mb < 16).map(([t]) => t);
const main = (sizes: Sizes) => sizes.get('main');
const workers = (sizes: Sizes) => [...sizes].filter(([t]) => t !== 'main').map(([, mb]) => mb);

let sv: Supervisord | undefined;
after(() => sv?.stop());

describe('the young-generation cap', { timeout: 120_000 }, () => {
  test('npm start (scripts/run.sh start) caps the main thread and every worker at 2 MiB', async () => {
    const sizes = await run('bash', ['scripts/run.sh', 'start'], {});
    assert.equal(capped(sizes).length, threads, JSON.stringify([...sizes]));
  });

  test('MAX_SEMI_SPACE_MB=0 leaves V8 its default, so the probe sees the difference', async () => {
    const sizes = await run('bash', ['scripts/run.sh', 'start'], { MAX_SEMI_SPACE_MB: '0' });
    assert.deepEqual(capped(sizes), [], JSON.stringify([...sizes]));
  });

  test('started as plain `node main.js`, the worker threads are still capped', async () => {
    const sizes = await run(process.execPath, [mainScript], {});
    assert.ok((main(sizes) ?? 0) >= 16, `main thread uncapped: ${JSON.stringify([...sizes])}`);
    assert.ok(
      workers(sizes).every((mb) => mb < 16),
      JSON.stringify([...sizes]),
    );
  });

  test("under supervisord with the image's settings, every thread is capped", async () => {
    sv = new Supervisord({ NODE_OPTIONS: `--import=${probe}` });
    const sizes: Sizes = new Map();
    let from = 0;
    while (sizes.size < threads) {
      const line = await sv.output.waitFor(/new-space-probe \{/, 30_000, from);
      from = sv.output.lines.indexOf(line) + 1;
      const { thread, newSpaceMb } = JSON.parse(/\{.*\}/.exec(line.text)![0]) as {
        thread: string;
        newSpaceMb: number;
      };
      sizes.set(thread, newSpaceMb);
    }
    assert.equal(capped(sizes).length, threads, JSON.stringify([...sizes]));
  });
});
