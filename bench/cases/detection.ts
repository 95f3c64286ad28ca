import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { Nanny } from '../../src/lib/threads/nanny.js';
import { createLogger } from '../../src/lib/primitives/log.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { coreConfigSchema, coreEnv } from '../../src/lib/runtime/core-config.js';
import { absoluteNow, median, round } from '../stats.js';
import type { Cases } from '../case.js';
import type { DoomedSettings } from '../workers/doomed.worker.js';

/**
 * Detection cases, in process: how long from a worker thread's exit (or its event loop
 * blocking) to the nanny's die() call. The moment is stamped by the worker itself into
 * shared memory with an absolute clock, so the measure needs no guessing.
 */

const defaultsFile = new URL('../../../config/default.json', import.meta.url);
const doomed = new URL('../workers/doomed.worker.js', import.meta.url);
const bareDoomed = new URL('../workers/bare-doomed.worker.js', import.meta.url);
const silent = new Writable({ write: (_c, _e, done) => done() });
const sink = Object.assign(silent, { flushSync: () => undefined });

async function nannyDetects(mode: 'exit' | 'hang', heartbeatMs: number): Promise<number> {
  const stamp = new SharedArrayBuffer(8);
  const base = loadConfig({
    schema: coreConfigSchema,
    env: coreEnv,
    defaultsFile,
    source: { HEARTBEAT_MS: String(heartbeatMs) },
  });
  const bench: DoomedSettings = { mode, stamp, afterMs: 100 };
  const log = createLogger({
    app: 'bench',
    thread: 'main',
    version: '',
    level: 'fatal',
    destination: sink,
  });
  const controller = new AbortController();
  const died = Promise.withResolvers<number>();
  const nanny = new Nanny({
    log,
    logSink: sink,
    logLevel: () => 'fatal',
    config: { ...base, bench },
    heartbeatMs,
    startTimeoutMs: 5_000,
    reportIntervalMs: 60_000,
    signal: controller.signal,
    die: () => {
      died.resolve(absoluteNow());
      controller.abort();
    },
  });
  nanny.add({ name: 'doomed', module: doomed });
  await nanny.start();
  const detectedAt = await died.promise;
  await nanny.stopAll(2_000);
  return detectedAt - (new Float64Array(stamp)[0] as number);
}

async function bareExitEvent(): Promise<number> {
  const stamp = new SharedArrayBuffer(8);
  const worker = new Worker(bareDoomed, { workerData: { stamp, afterMs: 100 } });
  await once(worker, 'exit');
  return absoluteNow() - (new Float64Array(stamp)[0] as number);
}

export async function detectionCases(runs: number, heartbeatMs: number): Promise<Cases> {
  const death: number[] = [];
  const bare: number[] = [];
  const hang: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await bareExitEvent());
    death.push(await nannyDetects('exit', heartbeatMs));
    hang.push(await nannyDetects('hang', heartbeatMs));
  }
  const d = round(median(death));
  const b = round(median(bare));
  const h = round(median(hang));
  return {
    death_detect_ms: {
      value: d,
      unit: 'ms',
      baseline: b,
      ratio: round(d / b),
      target: '< 20 ms',
      meetsTarget: d < 20,
      samples: death.map((x) => round(x)),
      baselineSamples: bare.map((x) => round(x)),
      notes: "worker's own exit stamp to the nanny's die(); baseline: a bare Worker's 'exit' event",
    },
    hang_detect_ms: {
      value: h,
      unit: 'ms',
      baseline: heartbeatMs,
      ratio: round(h / heartbeatMs),
      target: '<= 2 heartbeats',
      meetsTarget: h <= 2 * heartbeatMs,
      samples: hang.map((x) => round(x)),
      notes: `event loop blocked (stamped by the worker) to die(); heartbeat ${heartbeatMs} ms; ratio in heartbeats`,
    },
  };
}
