import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createVhost, type TestVhost } from '../test/helpers/broker.js';
import { isStopEcho, type FirstStop, type StopSignal } from '../src/lib/lifecycle/early-signals.js';
import { injectFault, type FaultRecord } from './chaos/faults.js';
import { ChaosObserver, type Outgoing, type QueueNames } from './chaos/observer.js';
import { parseChaosOptions, type ChaosOptions } from './chaos/options.js';
import { buildReport, formatReport, writeReport, type RunFacts } from './chaos/report.js';
import { Tally, type MessageKind } from './chaos/tally.js';
import { SupervisedTree } from './chaos/tree.js';

/**
 * `npm run chaos`: a bounded soak of the sample service under the real supervisord (the
 * project's entrypoint.sh and config/supervisord.conf) on a throw-away vhost. Publishes
 * `--count` messages at a steady rate (some poison, some failing once), consumes the
 * results and failed queues, and meanwhile injects faults one after another: kill -9, TERM,
 * a worker thread exit, a hung worker, a connection closed by the broker, a broker restart.
 * Reports what came back (JSON to bench/chaos-results.json, a table to stdout) and exits 1
 * on any loss or unmet bound (see docs/chaos.md). Stops everything it started, also on
 * Ctrl-C (exit 130) and at the deadline.
 */

const poisonBodies = ['{"text": "unterminated', '[1, 2, 3]', '42', '"just a string"', 'null'];

/** `count` messages with unique ids; poison and transient ones spread evenly among them. */
function buildMessages(runId: string, options: ChaosOptions): Outgoing[] {
  const kinds = new Map<number, MessageKind>();
  const place = (n: number, kind: MessageKind, offset: number): void => {
    for (let k = 0; k < n; k++) {
      let i = Math.floor(((k + offset) * options.count) / n);
      while (kinds.has(i % options.count)) i++;
      kinds.set(i % options.count, kind);
    }
  };
  place(options.poison, 'poison', 0.5);
  place(options.transient, 'transient', 0.25);
  return Array.from({ length: options.count }, (_, i) => {
    const id = `${runId}-${i}`;
    const kind = kinds.get(i) ?? 'event';
    const body =
      kind === 'poison'
        ? (poisonBodies[i % poisonBodies.length] as string)
        : JSON.stringify({
            text: `chaos message ${i}`,
            ...(kind === 'transient' ? { fail: 'transient', times: 1 } : {}),
          });
    return { id, kind, body };
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<number> {
  const options = parseChaosOptions(process.argv.slice(2));
  const interrupt = new AbortController();
  // A second Ctrl-C exits at once, but not the first one's echo: Ctrl-C on `npm run chaos`
  // delivers INT twice (the terminal's, and npm's: npm/cli#5021), and the second cut the
  // clean-up short, leaving the supervised tree and the vhost behind.
  let first: FirstStop | undefined;
  const onSignal = (name: StopSignal): void => {
    if (first === undefined) {
      first = { signal: name, at: performance.now(), echoed: false };
      interrupt.abort(new Error(`interrupted (${name})`));
    } else if (!isStopEcho(first, name)) {
      process.exit(name === 'SIGINT' ? 130 : 143);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT')).on('SIGTERM', () => onSignal('SIGTERM'));
  const failed = new AbortController();
  const signal = AbortSignal.any([
    interrupt.signal,
    failed.signal,
    AbortSignal.timeout(options.deadlineS * 1000),
  ]);

  const runId = randomUUID().slice(0, 8);
  const appName = `chaos-${runId}`;
  const queues: QueueNames = {
    input: `${appName}.events`,
    results: `${appName}.results`,
    failed: `${appName}.failed`,
  };
  const faultFile = join(tmpdir(), `worker-base-chaos-fault-${runId}`);
  // The pill's TEXT is armed in every process from the start when the pill is in the mix.
  const pillText = `chaos-pill-${runId}`;
  const baseFault = options.faults.includes('pill') ? `crash-on:${pillText}` : '';
  const pill = {
    id: `${runId}-pill`,
    kind: 'poison' as const,
    body: JSON.stringify({ text: `a pill: ${pillText}` }),
  };
  const tally = new Tally();
  const faults: FaultRecord[] = [];
  const startedAt = Date.now();
  let vhost: TestVhost | undefined;
  let observer: ChaosObserver | undefined;
  let tree: SupervisedTree | undefined;
  let error: string | undefined;
  let left: Record<string, number> | undefined;
  try {
    vhost = await createVhost('chaos');
    writeFileSync(faultFile, baseFault);
    const run = { vhost, observer: new ChaosObserver(vhost.url, queues, tally) };
    observer = run.observer;
    tree = new SupervisedTree(
      {
        AMQP_URL: vhost.url,
        APP_NAME: appName,
        AMQP_PREFETCH: String(options.prefetch),
        AMQP_RETRY_DELAYS_MS: '200,400',
        AMQP_HEARTBEAT_S: '2',
        AMQP_STATS_INTERVAL_MS: '10000',
        SAMPLE_WORK_MS: String(options.workMs),
        SAMPLE_FAULT_HOOKS: 'true',
        FAULT_FILE: faultFile,
        LOG_LEVEL: 'info',
      },
      signal,
      baseFault,
    );
    const supervised = tree;
    await observer.start(signal);
    supervised.start();
    await supervised.steady();
    process.stderr.write(`chaos: service ready on vhost ${vhost.name}; publishing\n`);

    const messages = buildMessages(runId, options);
    const publishing = observer.publishAll(messages, options.count / options.publishS, signal);
    const injecting = (async () => {
      for (const [i, kind] of options.faults.entries()) {
        // Spread over the publishing: the i-th fault once (i+1)/(n+1) of it is out.
        const due = Math.floor((options.count * (i + 1)) / (options.faults.length + 1));
        await tally.until(() => tally.published.size >= due, signal);
        process.stderr.write(`chaos: injecting ${kind}\n`);
        const record = await injectFault(kind, {
          tree: supervised,
          observer: run.observer,
          faultFile,
          baseFault,
          pill,
          untilFailed: (id) => tally.until(() => tally.failed.has(id), signal),
          appName,
          brokerDownMs: options.brokerDownMs,
          signal,
          outstanding: () => tally.outstanding,
        });
        process.stderr.write(`chaos: ${kind}: ready again after ${record.readyMs} ms\n`);
        faults.push(record);
      }
    })();
    // Either failing stops the other, and both are settled before anything is torn down.
    await Promise.all([publishing, injecting].map((p) => p.catch((e: unknown) => failed.abort(e))));
    signal.throwIfAborted();
    process.stderr.write('chaos: all published and faults done; waiting for the results\n');
    await tally.until(() => tally.isComplete, signal);

    // Stop the service (TERM: it drains), then collect what it still published.
    await supervised.stop();
    for (let i = 0; i < 50; i++) {
      left = await observer.depths(signal);
      if (left['results'] === 0 && left['failed'] === 0) break;
      await delay(100, undefined, { signal });
    }
  } catch (e) {
    const timedOut = signal.aborted && (signal.reason as Error).name === 'TimeoutError';
    error = timedOut
      ? `deadline of ${options.deadlineS} s reached`
      : describe(signal.aborted ? signal.reason : e);
  } finally {
    const cleanup: Array<() => Promise<void> | undefined> = [
      () => tree?.stop(),
      () => observer?.close(),
      () => vhost?.remove(),
      () => {
        rmSync(faultFile, { force: true });
        return undefined;
      },
    ];
    for (const step of cleanup) {
      try {
        await step();
      } catch (e) {
        process.stderr.write(`chaos: cleanup failed: ${describe(e)}\n`);
        error ??= `cleanup failed: ${describe(e)}`;
      }
    }
  }

  const facts: RunFacts = {
    options,
    vhost: vhost?.name ?? '',
    startedAt,
    endedAt: Date.now(),
    error,
    faults,
    spawns: tree?.spawnCount ?? 0,
    treeRestarts: tree?.exits ?? [],
    observerReconnects: observer?.reconnects ?? 0,
    republished: observer?.republished ?? 0,
    left,
  };
  const report = buildReport(tally, facts);
  writeReport(report, options.out);
  console.log(formatReport(report));
  console.log(`\nwritten to ${options.out}`);
  if (interrupt.signal.aborted) return 130;
  return report.ok ? 0 : 1;
}

try {
  // Leftover timers of abandoned waits must not hold the process open.
  process.exit(await main());
} catch (error) {
  process.stderr.write(`chaos: ${describe(error)}\n`);
  process.exit(2);
}
