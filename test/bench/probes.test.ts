import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssMb } from '../../bench/proc.js';

const probe = fileURLToPath(new URL('../../bench/probes/heap-probe.js', import.meta.url));

test('cpuSeconds() reads a busy process growing and rssMb() its resident size', async (t) => {
  const child = spawn(process.execPath, [
    '-e',
    "const end = Date.now() + 3000; while (Date.now() < end); console.log('done')",
  ]);
  t.after(() => child.kill('SIGKILL'));
  const before = cpuSeconds(child.pid as number);
  await new Promise((resolve) => setTimeout(resolve, 600));
  const after = cpuSeconds(child.pid as number);
  // On 2 shared cores a spinning process still gets well over a tenth of 600 ms.
  assert.ok(after - before > 0.06, `cpu ${before} -> ${after}`);
  const rss = rssMb(child.pid as number);
  assert.ok(rss > 10 && rss < 500, `rss ${rss}`);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.throws(() => cpuSeconds(child.pid as number), /ENOENT/);
});

test('the heap probe answers SIGUSR2 with the post-GC heap of every thread', async (t) => {
  // Workers from files run the preload (eval workers do not): two of the bench's own.
  const worker = fileURLToPath(
    new URL('../../bench/workers/bare-count.worker.js', import.meta.url),
  );
  const main = spawn(
    process.execPath,
    [
      '-e',
      // 'online' comes before the preload has run; an answer from the worker's own module
      // comes after it: count one message there and wait for its reply.
      `const { Worker, MessageChannel } = require('node:worker_threads');
       for (let i = 0; i < 2; i++) {
         const { port1, port2 } = new MessageChannel();
         new Worker(${JSON.stringify(worker)}, { workerData: { port: port2 }, transferList: [port2] });
         port1.once('message', () => console.log('online'));
         port1.postMessage({ n: 0, total: 1 });
       }`,
    ],
    { env: { ...process.env, NODE_OPTIONS: `--expose-gc --import=${probe}` } },
  );
  t.after(() => main.kill('SIGKILL'));
  const out = createInterface({ input: main.stdout });
  let online = 0;
  await new Promise<void>((resolve) =>
    out.on('line', (l) => l === 'online' && ++online === 2 && resolve()),
  );
  const err = createInterface({ input: main.stderr });
  const answer = new Promise<string>((resolve) =>
    err.on('line', (l) => l.startsWith('bench-heap-probe ') && resolve(l.slice(17))),
  );
  main.kill('SIGUSR2');
  const report = JSON.parse(await answer) as {
    heapMb: Record<string, number>;
    totalHeapMb: number;
    rssMb: number;
  };
  assert.deepEqual(Object.keys(report.heapMb).sort(), ['0', '1', '2']);
  for (const mb of Object.values(report.heapMb)) assert.ok(mb > 0.5 && mb < 100, `heap ${mb}`);
  assert.ok(report.rssMb > report.totalHeapMb);
});
