import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { ServiceProcess, repoRoot } from '../test/helpers/service-process.js';
import { median, round } from './stats.js';

/**
 * Where the sample service's start-up goes: starts it (no broker, idle) once with a preload
 * that logs every module each thread loads, and once with `--cpu-prof` (every thread writes a
 * profile), each until its `ready` line, then stops it with TERM and prints a summary: modules
 * per thread by package, and per thread the CPU time by package (the whole profile: start and
 * stop); then what importing each package costs a fresh process. Figures for
 * docs/performance.md; not a case.
 *
 * CLI: `node dist/bench/startup.js [--json]`
 */

const probe = fileURLToPath(new URL('./probes/module-log.js', import.meta.url));
const env = {
  LOG_PRETTY: 'false',
  ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
  SAMPLE_EVENT_INTERVAL_MS: '600000',
};

/** The package a module belongs to: `node:x`, `pkg` (node_modules), or `dist/<top dir>`. */
function packageOf(url: string): string {
  if (url.startsWith('node:')) return 'node:*';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const [first = '', second = ''] = url.slice(nm + 14).split('/');
    return first.startsWith('@') ? `${first}/${second}` : first;
  }
  const dist = /\/dist\/(src\/[^/]+|test|bench)\//.exec(url);
  return dist ? `worker-base ${dist[1] ?? ''}` : url;
}

async function untilReadyThenStop(nodeOptions: string, extra: Record<string, string>) {
  const service = new ServiceProcess({
    app: 'sample',
    env: { ...env, ...extra, NODE_OPTIONS: nodeOptions },
  });
  try {
    const ready = await service.waitFor('ready', 30_000);
    service.signal('SIGTERM');
    await service.waitForExit(30_000);
    return ready;
  } finally {
    await service.stop();
  }
}

/** Thread names by thread id, from the service's own log lines (`thread`, `threadId`). */
async function moduleLoads() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
  const log = join(dir, 'modules.tsv');
  try {
    await untilReadyThenStop(`--import=${probe}`, { BENCH_MODULE_LOG: log });
    const byThread = new Map<string, Map<string, number>>();
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      const [thread, , url] = line.split('\t');
      if (thread === undefined || url === undefined || url.endsWith('module-log.js')) continue;
      const packages = byThread.get(thread) ?? new Map<string, number>();
      const pkg = packageOf(url);
      packages.set(pkg, (packages.get(pkg) ?? 0) + 1);
      byThread.set(thread, packages);
    }
    return [...byThread].map(([thread, packages]) => ({
      thread,
      modules: [...packages.values()].reduce((a, b) => a + b, 0),
      packages: Object.fromEntries([...packages].sort((a, b) => b[1] - a[1])),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** V8's own entries are `(idle)`, `(program)`, `(garbage collector)`; natives get parentheses. */
function nativeName(name: string): string {
  if (name === '') return '(program)';
  return name.startsWith('(') ? name : `(native ${name})`;
}

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** CPU self time by package, per thread profile, up to the `ready` line (in the main thread). */
async function cpuProfiles() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cpuprof-'));
  try {
    await untilReadyThenStop(`--cpu-prof --cpu-prof-dir=${dir} --cpu-prof-interval=200`, {});
    return readdirSync(dir).map((file) => {
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
      const urlOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
      const self = new Map<string, number>();
      profile.samples.forEach((id, i) => {
        const frame = urlOf.get(id);
        const key =
          frame === undefined || frame.url === ''
            ? nativeName(frame?.functionName ?? '')
            : packageOf(frame.url);
        self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
      });
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      return {
        // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile
        thread: file.split('.')[4] ?? file,
        wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
        sampledMs: Math.round(total),
        byPackageMs: Object.fromEntries(
          [...self]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 12)
            .map(([k, v]) => [k, Math.round(v)]),
        ),
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What importing one package (or the core's graph) costs a fresh Node process, median of 5:
 * `await import(x)` timed inside the process, so Node's own boot is not counted.
 */
function importCosts(): Record<string, number> {
  const specs = [
    'zod',
    'amqplib',
    'cockatiel',
    'pino',
    'zeromq',
    'node-cron',
    '@sentry/node',
    '@influxdata/influxdb-client',
    'cronitor',
    './dist/src/lib/runtime/run-service.js',
    './dist/src/lib/threads/run-worker.js',
  ];
  const once = (spec: string): number =>
    Number(
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const t = performance.now(); await import('${spec}'); console.log(performance.now() - t);`,
        ],
        { cwd: repoRoot, encoding: 'utf8' },
      ),
    );
  return Object.fromEntries(
    specs.map((spec) => [spec, round(median(Array.from({ length: 5 }, () => once(spec))), 1)]),
  );
}

const result = {
  modules: await moduleLoads(),
  profiles: await cpuProfiles(),
  importMs: importCosts(),
};
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  for (const t of result.modules)
    console.log(`thread ${t.thread}: ${t.modules} modules`, JSON.stringify(t.packages));
  for (const p of result.profiles)
    console.log(
      `profile of thread ${p.thread}: ${p.wallMs} ms profiled, ${p.sampledMs} ms sampled`,
      JSON.stringify(p.byPackageMs),
    );
  for (const [spec, ms] of Object.entries(result.importMs)) console.log(`import ${spec}: ${ms} ms`);
}
