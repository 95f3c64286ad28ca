import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { mainScript, repoRoot, testEnv } from '../helpers/service-process.js';
import { Supervisord } from '../helpers/supervisord.js';
import type { FileLine } from '../helpers/file-lines.js';

/**
 * The young-generation cap (MAX_SEMI_SPACE_MB, docs/performance.md) is in the running service,
 * however it is started: a preload in every thread churns objects and reports how far V8 let
 * its new space grow (test/fixtures/new-space-probe.ts). V8's default reaches 32 MiB; the
 * 2 MiB cap keeps it near 4. `npm start` and supervisord run the app at dist/src/app/main.js
 * (whichever it is: the threads counted are those its `ready` line names), plain node the
 * fixture service.
 */

const probe = fileURLToPath(new URL('../fixtures/new-space-probe.js', import.meta.url));
type Sizes = Map<string, number>;

/**
 * The probe lines of a service's threads, read from its output until every thread it runs has
 * reported: the main thread and each worker its `ready` line names (so any app will do).
 */
class Readings {
  readonly sizes: Sizes = new Map();
  threads: number | undefined;

  /** Takes one output line (idempotent); true once every thread has reported. */
  take(text: string): boolean {
    const m = /new-space-probe (\{.*\})/.exec(text);
    if (m !== null) {
      const { thread, newSpaceMb } = JSON.parse(m[1]!) as { thread: string; newSpaceMb: number };
      this.sizes.set(thread, newSpaceMb);
    } else if (text.startsWith('{') && text.includes('"msg":"ready"')) {
      const ready = JSON.parse(text) as { workers?: unknown[] };
      this.threads = 1 + (ready.workers?.length ?? 0);
    }
    return this.threads !== undefined && this.sizes.size >= this.threads;
  }
}

/** The service started by `command`, with the probe; resolves with each thread's new space. */
async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<Readings> {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      // The sample's publish endpoint, should dist/src/app be the sample: any free port.
      ...testEnv({
        NODE_OPTIONS: `--import=${probe}`,
        ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
        ...env,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const readings = new Readings();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`not every thread reported: ${JSON.stringify([...readings.sizes])}`));
      }, 30_000);
      for (const input of [child.stdout, child.stderr]) {
        createInterface({ input }).on('line', (line) => {
          if (!readings.take(line)) return;
          clearTimeout(timer);
          resolve();
        });
      }
    });
    return readings;
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
    const { sizes, threads } = await run('bash', ['scripts/run.sh', 'start'], {});
    assert.equal(capped(sizes).length, threads, JSON.stringify([...sizes]));
  });

  test('MAX_SEMI_SPACE_MB=0 leaves V8 its default, so the probe sees the difference', async () => {
    const { sizes } = await run('bash', ['scripts/run.sh', 'start'], { MAX_SEMI_SPACE_MB: '0' });
    assert.deepEqual(capped(sizes), [], JSON.stringify([...sizes]));
  });

  test('started as plain `node main.js`, the worker threads are still capped', async () => {
    const { sizes } = await run(process.execPath, [mainScript], {});
    assert.ok((main(sizes) ?? 0) >= 16, `main thread uncapped: ${JSON.stringify([...sizes])}`);
    assert.ok(
      workers(sizes).every((mb) => mb < 16),
      JSON.stringify([...sizes]),
    );
  });

  test("under supervisord with the image's settings, every thread is capped", async () => {
    sv = new Supervisord({ NODE_OPTIONS: `--import=${probe}` });
    const readings = new Readings();
    await sv.output.waitFor((l: FileLine) => readings.take(l.text), 30_000);
    const { sizes, threads } = readings;
    assert.equal(capped(sizes).length, threads, JSON.stringify([...sizes]));
  });
});
