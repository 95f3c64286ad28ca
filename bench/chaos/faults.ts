import { writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { connectionOf, rabbitmqctl, waitForBroker } from '../../test/helpers/broker.js';
import { isRunning } from '../../test/helpers/npm-run.js';
import { serviceTime, supervisordTime } from '../../test/helpers/supervisord.js';
import type { FaultKind } from './options.js';
import type { ChaosObserver, Outgoing } from './observer.js';
import type { Mark, SupervisedTree } from './tree.js';

/**
 * The faults the soak injects into the running service, each the real thing: a signal to the
 * real process, supervisorctl, a worker fault armed through FAULT_FILE, rabbitmqctl. Each
 * waits for the service to be steady first, and returns once a fault-free process is ready
 * again, with its timings.
 */

export interface FaultContext {
  tree: SupervisedTree;
  observer: ChaosObserver;
  /** The service's FAULT_FILE: read once at each process start. */
  faultFile: string;
  /** What FAULT_FILE holds between faults: the pill's `crash-on:TEXT`, or empty. */
  baseFault: string;
  /** The pill: an event whose body holds that TEXT (published by the `pill` fault). */
  pill: Outgoing;
  /** Resolves once the message with this id is in the failed queue. */
  untilFailed: (id: string) => Promise<void>;
  appName: string;
  /** How long the broker stays stopped after stop_app returned. */
  brokerDownMs: number;
  /** The run's signal: cuts the broker's down time short (it is started again regardless). */
  signal: AbortSignal;
  /** Non-poison messages still without a result, for the record. */
  outstanding: () => number;
}

export interface FaultRecord {
  kind: FaultKind;
  /** When the fault struck (ISO). */
  at: string;
  /** The service process it struck. */
  pid: number;
  /** The process that took over (its `ready` line ends the fault). */
  nextPid: number;
  /** Fault to the next fault-free `ready`, in ms. */
  readyMs: number;
  /** Fault to the first result received after that `ready`; filled in at the end. */
  resumedMs: number | null;
  /** When that `ready` was logged, ms since epoch. */
  readyAt: number;
  /** Times supervisord itself exited (app FATAL) and the tree was started again. */
  treeRestarts: number;
  /** supervisord's spawns of the app from the fault to that `ready`. */
  spawns: number;
  /** Messages published and still without a result when it struck. */
  outstanding: number;
  /** Kind-specific figures. */
  detail: Record<string, unknown>;
}

interface Struck {
  /** When it struck, ms since epoch. */
  at: number;
  pid: number;
  /** Further processes the fault ended (the pill's crashes), not counted as recovered. */
  alsoEnded?: number[];
  detail: Record<string, unknown>;
}

/** Injects one fault and waits for the recovery; see FaultRecord. */
export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<FaultRecord> {
  const pid = await ctx.tree.steady();
  const outstanding = ctx.outstanding();
  const spawnsBefore = ctx.tree.spawnCount;
  const treeExitsBefore = ctx.tree.exits.length;
  const from = ctx.tree.mark();
  const struck = await strike(kind, pid, from, ctx);
  const next = await ctx.tree.nextReady(from, [struck.pid, ...(struck.alsoEnded ?? [])]);
  return {
    kind,
    at: new Date(struck.at).toISOString(),
    pid: struck.pid,
    nextPid: next.pid,
    readyMs: serviceTime(next.line) - struck.at,
    resumedMs: null,
    readyAt: serviceTime(next.line),
    spawns: ctx.tree.spawnCount - spawnsBefore,
    treeRestarts: ctx.tree.exits.length - treeExitsBefore,
    outstanding,
    detail: struck.detail,
  };
}

async function strike(
  kind: FaultKind,
  pid: number,
  from: Mark,
  ctx: FaultContext,
): Promise<Struck> {
  switch (kind) {
    case 'kill': {
      const at = Date.now();
      process.kill(pid, 'SIGKILL');
      return { at, pid, detail: {} };
    }
    case 'term': {
      // supervisorctl restart: TERM (the service drains and exits 0), then start again.
      const at = Date.now();
      const { code, stdout } = await ctx.tree.current.supervisorctl('restart', 'app');
      return { at, pid, detail: { supervisorctl: code, output: stdout.trim() } };
    }
    case 'worker-exit':
    case 'worker-hang':
      return workerFault(kind, pid, from, ctx);
    case 'close-connection': {
      const name = await connectionOf(`${ctx.appName} pid ${pid}`);
      const at = Date.now();
      await rabbitmqctl('close_connection', name, 'chaos: forced close');
      return { at, pid, detail: { connection: name } };
    }
    case 'broker-restart':
      return brokerRestart(pid, ctx);
    case 'pill':
      return pill(pid, ctx);
  }
}

/**
 * Publishes the pill (the service runs with `crash-on:TEXT` all along, so the processor kills
 * the process whenever it meets it) and waits until the broker has dead-lettered it to the
 * failed queue: its delivery limit spent, once in the main flow and then in the quarantine.
 * Every process that died of it is one of the fault's; the recovery is the next `ready` after.
 */
async function pill(pid: number, ctx: FaultContext): Promise<Struck> {
  const before = ctx.tree.current.spawnedPids().length;
  const at = Date.now();
  await ctx.observer.publishAll([ctx.pill], 1000, ctx.signal);
  await ctx.untilFailed(ctx.pill.id);
  const failedAt = Date.now();
  const ended = ctx.tree.current
    .spawnedPids()
    .slice(before)
    .filter((p) => !isRunning(p));
  return {
    at,
    pid,
    alsoEnded: ended,
    detail: { crashes: ended.length + 1, publishToFailedMs: failedAt - at },
  };
}

/**
 * Arms `worker-exit:processor` or `worker-hang:processor` through FAULT_FILE, restarts the
 * service so the next start reads it, and empties the file as soon as that start logged it:
 * the faulted process dies by itself (exit 71) and supervisord restarts it fault-free.
 */
async function workerFault(
  kind: 'worker-exit' | 'worker-hang',
  pid: number,
  from: Mark,
  ctx: FaultContext,
): Promise<Struck> {
  const fault = [`${kind}:processor`, ctx.baseFault].filter((f) => f !== '').join(',');
  writeFileSync(ctx.faultFile, fault);
  const restarted = ctx.tree.current.supervisorctl('restart', 'app');
  let starting;
  try {
    starting = await ctx.tree.waitLine(
      (l) => l.json?.['msg'] === 'starting' && l.json['fault'] === fault,
      from,
    );
  } finally {
    writeFileSync(ctx.faultFile, ctx.baseFault);
  }
  const faulted = Number(starting.json?.['pid']);
  const stopping = await ctx.tree.waitLine(
    (l) => l.json?.['msg'] === 'shutdown started' && l.json['pid'] === faulted,
    from,
  );
  const exited = await ctx.tree.waitLine((l) => /exited: app \(/.test(l.text), from);
  const { code, stdout } = await restarted;
  return {
    at: serviceTime(stopping),
    pid: faulted,
    detail: {
      restartedPid: pid,
      reason: stopping.json?.['reason'],
      exit: /exited: app \(([^)]*)\)/.exec(exited.text)?.[1],
      strikeToExitMs: supervisordTime(exited) - serviceTime(stopping),
      supervisorctl: code,
      output: stdout.trim(),
    },
  };
}

/**
 * rabbitmqctl stop_app, then start_app (always, in a finally) and waits until the broker
 * accepts connections. The observer pauses publishing meanwhile, so no batch is cut in half.
 */
async function brokerRestart(pid: number, ctx: FaultContext): Promise<Struck> {
  await ctx.observer.pause();
  const at = Date.now();
  let stoppedAt = at;
  let startedAt = at;
  try {
    await rabbitmqctl('stop_app');
    stoppedAt = Date.now();
    // The outage itself (not a wait for an event): long enough, the service goes FATAL.
    if (ctx.brokerDownMs > 0) {
      await delay(ctx.brokerDownMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    }
  } finally {
    try {
      await startBroker();
      startedAt = Date.now();
    } finally {
      ctx.observer.resume();
    }
  }
  return {
    at,
    pid,
    detail: {
      stopAppMs: stoppedAt - at,
      brokerDownMs: startedAt - at,
    },
  };
}

/**
 * start_app until the broker accepts connections. Tried three times: a Ctrl-C in a terminal
 * reaches the whole process group, rabbitmqctl included, and may cut the first one short.
 */
async function startBroker(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rabbitmqctl('start_app');
      await waitForBroker(60_000);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}
