import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median, round } from '../stats.js';
import type { Cases } from '../case.js';

/**
 * Whole-process cases: start-up to `ready`, idle RSS, and TERM to exit, for the sample
 * service (3 workers) against a bare Node process doing the least that counts (print ready,
 * exit on TERM), started the same way in the same run.
 */

const mainScript = fileURLToPath(new URL('../../src/app/main.js', import.meta.url));
const bareScript = `process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000); console.log(JSON.stringify({ msg: 'ready' }));`;

interface Run {
  startupMs: number;
  rssMb: number;
  shutdownMs: number;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function runOnce(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('"msg":"ready"')) resolve();
    });
    void exited.then(() => reject(new Error(`process exited before ready`)));
    setTimeout(() => reject(new Error('no ready line within 20 s')), 20_000).unref();
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  const startupMs = performance.now() - started;
  // Let start-up garbage settle before reading the idle footprint.
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssMb(child.pid as number);
  const stopAt = performance.now();
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`exit code ${String(code)} after TERM`);
  return { startupMs, rssMb: rss, shutdownMs: performance.now() - stopAt };
}

export async function processCases(runs: number): Promise<Cases> {
  const env = {
    PATH: process.env['PATH'],
    LOG_LEVEL: 'info',
    ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
    SAMPLE_EVENT_INTERVAL_MS: '600000',
  };
  const service: Run[] = [];
  const bare: Run[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await runOnce(['-e', bareScript], env));
    service.push(await runOnce([mainScript], env));
  }
  const m = (rs: Run[], k: keyof Run) => round(median(rs.map((r) => r[k])));
  const shutdown = m(service, 'shutdownMs');
  const startup = m(service, 'startupMs');
  const rss = m(service, 'rssMb');
  return {
    shutdown_ms: {
      value: shutdown,
      unit: 'ms',
      baseline: m(bare, 'shutdownMs'),
      ratio: round(shutdown / m(bare, 'shutdownMs')),
      target: '< 150 ms median',
      meetsTarget: shutdown < 150,
      samples: service.map((r) => round(r.shutdownMs)),
      baselineSamples: bare.map((r) => round(r.shutdownMs)),
      notes:
        'TERM to process exit, idle sample service with 3 workers vs bare node exiting on TERM',
    },
    startup_ms: {
      value: startup,
      unit: 'ms',
      baseline: m(bare, 'startupMs'),
      ratio: round(startup / m(bare, 'startupMs')),
      target: '< 500 ms median',
      meetsTarget: startup < 500,
      samples: service.map((r) => round(r.startupMs)),
      baselineSamples: bare.map((r) => round(r.startupMs)),
      notes: 'spawn to the ready log line vs bare node printing ready',
    },
    idle_rss_mb: {
      value: rss,
      unit: 'MiB',
      baseline: m(bare, 'rssMb'),
      ratio: round(rss / m(bare, 'rssMb')),
      target: 'reported',
      meetsTarget: true,
      samples: service.map((r) => round(r.rssMb)),
      baselineSamples: bare.map((r) => round(r.rssMb)),
      notes: 'VmRSS 500 ms after ready, sample service (main + 3 worker threads) vs bare node',
    },
  };
}
