import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median, round } from '../stats.js';
import { launcherNodeOptions, rssMb, semiSpaceEnv } from '../proc.js';
import type { CaseResult, Cases } from '../case.js';

/**
 * Whole-process cases: start-up to `ready`, idle RSS, and TERM to exit, for the sample
 * service (3 workers) against a bare Node process doing the least that counts (print ready,
 * exit on TERM), started the same way in the same run.
 */

/** The built sample service's entry, and a bare Node doing the least that counts. */
export const mainScript = fileURLToPath(new URL('../../src/app/main.js', import.meta.url));
export const bareScript = `process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000); console.log(JSON.stringify({ msg: 'ready' }));`;

interface Run {
  startupMs: number;
  rssMb: number;
  shutdownMs: number;
}

/** Spawns a process and resolves once it printed its `ready` line; kills it on failure. */
export async function startReady(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  try {
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.includes('"msg":"ready"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited (${String(code)}) before ready`)));
      setTimeout(() => reject(new Error('no ready line within 20 s')), 20_000).unref();
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child; // the reader stays attached: a full pipe would block the service
}

/** TERM to a process still running, and its exit code (null when a signal ended it). */
export async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

async function runOnce(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now();
  const child = await startReady(args, env);
  const startupMs = performance.now() - started;
  // Let start-up garbage settle before reading the idle footprint.
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssMb(child.pid as number);
  if (child.exitCode !== null || child.signalCode !== null) throw new Error('exited before TERM');
  const stopAt = performance.now();
  const code = await stop(child);
  if (code !== 0) throw new Error(`exit code ${String(code)} after TERM`);
  return { startupMs, rssMb: rss, shutdownMs: performance.now() - stopAt };
}

/** The idle sample's environment: no broker, an ephemeral ZeroMQ port, no produced events. */
export function idleSampleEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    LOG_LEVEL: 'info',
    ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
    SAMPLE_EVENT_INTERVAL_MS: '600000',
    ...semiSpaceEnv,
  };
}

export async function processCases(runs: number): Promise<Cases> {
  const env = idleSampleEnv();
  const service: Run[] = [];
  const bare: Run[] = [];
  const cached: Run[] = [];
  // Node's module compile cache (what module.enableCompileCache() turns on), warmed by a
  // first run that is not counted: every later start reads the compiled code from it.
  const cache = mkdtempSync(join(tmpdir(), 'bench-compile-cache-'));
  const cachedEnv = { ...env, NODE_COMPILE_CACHE: cache };
  try {
    await runOnce([launcherNodeOptions, mainScript], cachedEnv);
    for (let i = 0; i < runs; i++) {
      bare.push(await runOnce(['-e', bareScript], env));
      service.push(await runOnce([launcherNodeOptions, mainScript], env));
      cached.push(await runOnce([launcherNodeOptions, mainScript], cachedEnv));
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  const m = (rs: Run[], k: keyof Run) => round(median(rs.map((r) => r[k])));
  const measure = (
    key: keyof Run,
    unit: string,
    target: string,
    limit: number,
    notes: string,
    of: Run[] = service,
  ): CaseResult => {
    const value = m(of, key);
    const baseline = m(bare, key);
    return {
      value,
      unit,
      baseline,
      ratio: round(value / baseline),
      target,
      meetsTarget: value < limit,
      samples: of.map((r) => round(r[key])),
      baselineSamples: bare.map((r) => round(r[key])),
      notes,
    };
  };
  return {
    shutdown_ms: measure(
      'shutdownMs',
      'ms',
      '< 150 ms median',
      150,
      'TERM to process exit, idle sample service with 3 workers vs bare node exiting on TERM',
    ),
    startup_ms: {
      ...measure(
        'startupMs',
        'ms',
        '<= 4x bare node',
        Number.POSITIVE_INFINITY,
        'spawn to the ready log line vs bare node printing ready',
      ),
      meetsTarget: m(service, 'startupMs') <= 4 * m(bare, 'startupMs'),
    },
    startup_cached_ms: {
      ...measure(
        'startupMs',
        'ms',
        'reported',
        Number.POSITIVE_INFINITY,
        'spawn to the ready log line with NODE_COMPILE_CACHE set (warm) vs bare node printing ready',
        cached,
      ),
      uncachedMs: m(service, 'startupMs'),
    },
    idle_rss_mb: measure(
      'rssMb',
      'MiB',
      '<= 100 MiB',
      100.01,
      'VmRSS 500 ms after ready, sample service (main + 3 worker threads) vs bare node',
    ),
  };
}
