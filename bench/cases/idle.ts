import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { median, round } from '../stats.js';
import { launcherNodeOptions } from '../proc.js';
import { bareScript, idleSampleEnv, mainScript, startReady, stop } from './process.js';
import type { Cases } from '../case.js';
import { freePort } from '../../test/helpers/http-recorder.js';

/**
 * What an idle service costs the machine: CPU time and wake-ups per unit of time, all threads,
 * once start-up has settled (its JIT and GC tail spent), for the sample service (main + 3 worker
 * threads) with the health endpoint off and on (on: Prometheus' runtime figures too, as in the
 * image), against a bare Node with a 1 s interval timer. The three run side by side in each
 * round: idle, they do not compete for the cores. Figures from /proc: `schedstat` (ns of CPU,
 * finer than the clock ticks of `stat`) and `voluntary_ctxt_switches` (a thread going to sleep:
 * each is a wake-up after it).
 */

interface Counters {
  cpuNs: number;
  wakeups: number;
}

interface Idle {
  cpuMsPerMin: number;
  wakeupsPerS: number;
}

function counters(pid: number): Counters {
  let cpuNs = 0;
  let wakeups = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNs += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return { cpuNs, wakeups };
}

/** One round: the contenders started, settled, then counted over the same window. */
async function countRound(
  contenders: Array<[string[], NodeJS.ProcessEnv]>,
  settleMs: number,
  windowMs: number,
): Promise<Idle[]> {
  const children: ChildProcess[] = [];
  try {
    for (const [args, env] of contenders) children.push(await startReady(args, env));
    await delay(settleMs);
    const pids = children.map((c) => c.pid as number);
    const before = pids.map(counters);
    const from = performance.now();
    await delay(windowMs);
    const seconds = (performance.now() - from) / 1000;
    return pids.map((pid, i) => {
      const [b, a] = [before[i] as Counters, counters(pid)];
      return {
        cpuMsPerMin: ((a.cpuNs - b.cpuNs) / 1e6 / seconds) * 60,
        wakeupsPerS: (a.wakeups - b.wakeups) / seconds,
      };
    });
  } finally {
    await Promise.all(children.map(stop));
  }
}

export async function idleCases(
  rounds: number,
  settleMs: number,
  windowMs: number,
): Promise<Cases> {
  const env = idleSampleEnv();
  const bare: Idle[] = [];
  const service: Idle[] = [];
  const endpoint: Idle[] = [];
  for (let i = 0; i < rounds; i++) {
    const endpointEnv = { ...env, HEALTH_PORT: String(await freePort()) };
    const [b, s, e] = (await countRound(
      [
        [['-e', bareScript], env],
        [[launcherNodeOptions, mainScript], env],
        [[launcherNodeOptions, mainScript], endpointEnv],
      ],
      settleMs,
      windowMs,
    )) as [Idle, Idle, Idle];
    bare.push(b);
    service.push(s);
    endpoint.push(e);
  }
  const m = (of: Idle[], key: keyof Idle) => round(median(of.map((r) => r[key])));
  const when = `${String(settleMs / 1000)} s after ready, over ${String(windowMs / 1000)} s`;
  const idleCase = (of: Idle[], what: string) => ({
    value: m(of, 'cpuMsPerMin'),
    unit: 'ms/min',
    baseline: m(bare, 'cpuMsPerMin'),
    ratio: null,
    target: 'reported',
    meetsTarget: true,
    wakeupsPerS: m(of, 'wakeupsPerS'),
    baselineWakeupsPerS: m(bare, 'wakeupsPerS'),
    samples: of.map((r) => round(r.cpuMsPerMin)),
    baselineSamples: bare.map((r) => round(r.cpuMsPerMin)),
    notes: `CPU time of all threads per minute, ${what}, idle (${when}), vs bare node with a 1 s interval timer`,
  });
  return {
    idle_cpu_ms_per_min: idleCase(service, 'sample service (main + 3 worker threads)'),
    idle_cpu_endpoint_ms_per_min: idleCase(
      endpoint,
      'the same with HEALTH_PORT set (health endpoint, Prometheus runtime figures)',
    ),
  };
}
