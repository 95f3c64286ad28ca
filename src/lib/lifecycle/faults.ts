import { setTimeout as delay } from 'node:timers/promises';
import { DependencyError, ErrorCodes, WorkerBaseError } from '../primitives/errors.js';
import type { Logger } from '../primitives/log.js';

/**
 * The fault-injection switch (`FAULT`), off by default, for drills and tests:
 * - `worker-exit:NAME`   the named worker thread exits (code 1) shortly after start;
 * - `worker-throw:NAME`  the named worker throws an uncaught error shortly after start;
 * - `worker-hang:NAME`   the named worker blocks its event loop for good shortly after start;
 * - `worker-block:NAME`  the named worker blocks in a system call for good shortly after start
 *                        (a read nothing will answer), where `terminate()` cannot reach it;
 * - `shutdown-throw:NAME` the named worker throws an uncaught error while it shuts down;
 * - `dependency:startup` start-up hits a dependency failure;
 * - `error:startup`      start-up hits an application error (a bug), in the main thread;
 * - `hang:startup`       start-up awaits what never comes, deaf to the shutdown (a set-up step
 *                        with no timeout): STARTUP_TIMEOUT_MS ends it;
 * - `stall:startup`      start-up blocks the main thread for good, before any worker thread
 *                        starts (a set-up step stuck in synchronous work): start-up's sentinel
 *                        (lifecycle/sentinel.ts) ends it, STARTUP_TIMEOUT_MS and its grace
 *                        after start-up began;
 * - `main-stall:MS`      the main thread blocks its event loop for MS ms, once, shortly after
 *                        `ready` (a long GC or a big parse): no worker may be taken for hung.
 * - `main-exit:CODE`    the main thread calls `process.exit(CODE)` 2.5 s after `ready` (past
 *                        supervisord's `startsecs`: a run that ended, not a start that failed),
 *                        as a dependency or a fork's code might: no shutdown step runs
 *                        (lifecycle/stray-exit.ts logs it, and makes a 0 a failure);
 * - `shutdown-stall:MS`  the main thread blocks its event loop for MS ms, once, when the
 *                        shutdown reaches its close phase, after the worker threads stopped (a
 *                        close or flush step stuck in synchronous work);
 * - `crash-on:TEXT`      a worker thread serving a request that contains TEXT kills the whole
 *                        process (SIGKILL, as a native crash would: nothing of ours runs after);
 * - `hang-on:TEXT`       such a worker blocks its event loop for good on such a request.
 * `FAULT` holds one fault or a comma-separated list (`parseFaults`).
 */

export type Fault =
  | { kind: 'none' }
  | {
      kind: 'worker-exit' | 'worker-throw' | 'worker-hang' | 'worker-block' | 'shutdown-throw';
      worker: string;
    }
  | { kind: 'dependency' | 'error' | 'hang' | 'stall'; at: 'startup' }
  | { kind: 'main-stall' | 'shutdown-stall'; ms: number }
  | { kind: 'main-exit'; code: number }
  | { kind: 'crash-on' | 'hang-on'; text: string };

/** How long after start a worker fault strikes: long enough to be seen as "running". */
export const faultDelayMs = 300;

/** How long after `ready` `main-exit:CODE` strikes: past supervisord's `startsecs` (2 s). */
const mainExitDelayMs = 2_500;

/**
 * The grammar of one fault, written once: its form (for the config error), the pattern of its
 * text (for the config's validation and the parser) and the fault it makes. A TEXT runs to the
 * next comma.
 */
const faultForms: ReadonlyArray<{
  form: string;
  pattern: RegExp;
  make: (argument: string) => Exclude<Fault, { kind: 'none' }>;
}> = [
  ...(
    ['worker-exit', 'worker-throw', 'worker-hang', 'worker-block', 'shutdown-throw'] as const
  ).map((kind) => ({
    form: `${kind}:NAME`,
    pattern: new RegExp(`${kind}:([\\w-]+)`),
    make: (worker: string) => ({ kind, worker }),
  })),
  ...(['dependency', 'error', 'hang', 'stall'] as const).map((kind) => ({
    form: `${kind}:startup`,
    pattern: new RegExp(`${kind}:startup()`),
    make: () => ({ kind, at: 'startup' as const }),
  })),
  {
    form: 'main-stall:MS',
    pattern: /main-stall:(\d{1,6})/,
    make: (ms: string) => ({ kind: 'main-stall', ms: Number(ms) }),
  },
  {
    form: 'main-exit:CODE',
    pattern: /main-exit:(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)/,
    make: (code: string) => ({ kind: 'main-exit', code: Number(code) }),
  },
  {
    form: 'shutdown-stall:MS',
    pattern: /shutdown-stall:(\d{1,6})/,
    make: (ms: string) => ({ kind: 'shutdown-stall', ms: Number(ms) }),
  },
  ...(['crash-on', 'hang-on'] as const).map((kind) => ({
    form: `${kind}:TEXT`,
    pattern: new RegExp(`${kind}:([^,]+)`),
    make: (text: string) => ({ kind, text }),
  })),
];

const faultItem = faultForms.map((f) => f.pattern.source).join('|');
/** A valid `FAULT`: empty, one fault, or a comma-separated list of them. */
export const faultPattern = new RegExp(`^(|(?:${faultItem})(?:,(?:${faultItem}))*)$`);
/** The expected form of `FAULT`, for the config error. */
export const faultDescription = `empty, or one or more of ${faultForms.map((f) => f.form).join(', ')}, comma-separated`;

export function parseFault(text: string): Fault {
  if (text === '') return { kind: 'none' };
  for (const { pattern, make } of faultForms) {
    const match = new RegExp(`^${pattern.source}$`).exec(text);
    if (match !== null) return make(match[1] ?? '');
  }
  throw new Error(`unknown fault ${JSON.stringify(text)}`);
}

/** Parses `FAULT`: one fault or a comma-separated list of them (empty: none). */
export function parseFaults(text: string): Fault[] {
  return text === '' ? [] : text.split(',').map(parseFault);
}

type MessageFault = Extract<Fault, { kind: 'crash-on' | 'hang-on' }>;

/** The `crash-on` and `hang-on` faults among `faults` (the worker runtime arms them). */
export function messageFaults(faults: readonly Fault[]): MessageFault[] {
  return faults.filter((f): f is MessageFault => f.kind === 'crash-on' || f.kind === 'hang-on');
}

/** True when `value` is a string containing `text`, or holds one (arrays, objects; 4 deep). */
function holdsText(value: unknown, text: string, depth = 0): boolean {
  if (typeof value === 'string') return value.includes(text);
  if (depth >= 4 || typeof value !== 'object' || value === null) return false;
  return Object.values(value).some((v) => holdsText(v, text, depth + 1));
}

/**
 * Run by the worker runtime on each request a worker thread serves, when a message fault is
 * set: strikes when the request (a string, or a string field of it) contains the TEXT of a
 * `crash-on` or `hang-on` fault. `crash-on` sends the process SIGKILL. A native crash (a
 * segfault in an addon, V8 running out of memory) ends the whole process, whichever thread it
 * happens in, and nothing of ours runs after it: no nack, no shutdown step, no log line; the
 * broker sees the connection drop. A thread's own exit would be the gentler case the nanny
 * already handles. SIGKILL gives exactly that without the core file a SIGSEGV or abort() may
 * leave behind. `hang-on` blocks the thread's event loop for good.
 */
export function strikeOnRequest(faults: readonly MessageFault[], request: unknown): void {
  for (const fault of faults) {
    if (!holdsText(request, fault.text)) continue;
    if (fault.kind === 'crash-on') process.kill(process.pid, 'SIGKILL');
    else {
      for (;;) {
        // Blocks the event loop for good: only terminate() ends it.
      }
    }
  }
}

/**
 * `hang:startup`: a promise that never settles, for start-up to await, as a set-up step with
 * no timeout and no ear for the shutdown would; undefined for any other fault.
 */
export function startupHang(fault: Fault): Promise<never> | undefined {
  return fault.kind === 'hang' ? new Promise<never>(() => undefined) : undefined;
}

/** `stall:startup`: blocks the main thread for good; nothing for any other fault. */
export function stallStartup(fault: Fault): void {
  if (fault.kind !== 'stall') return;
  for (;;) {
    // Blocks the event loop for good: only a signal's default action or SIGKILL ends it.
  }
}

/** Throws the start-up dependency failure or application error when that fault is set. */
export function injectStartupFault(fault: Fault, dependency: string): void {
  if (fault.kind === 'dependency') {
    throw new DependencyError(dependency, 'injected start-up failure (FAULT=dependency:startup)');
  }
  if (fault.kind === 'error') {
    throw new WorkerBaseError(
      ErrorCodes.FAULT_INJECTED,
      'injected application error at start-up (FAULT=error:startup)',
    );
  }
}

/**
 * Called by the worker runtime once the worker is ready: arms the fault for this worker, if
 * any. The fault fires from a timer, outside any scope, as a real one would.
 */
export function armWorkerFault(fault: Fault, worker: string, signal: AbortSignal): void {
  if (!('worker' in fault) || fault.worker !== worker) return;
  if (fault.kind === 'shutdown-throw') {
    // Right after the shutdown message arrived (before the runtime winds down): uncaught,
    // outside any scope, as a real one would be.
    const strikeLate = (): void => {
      throw new WorkerBaseError(
        ErrorCodes.FAULT_INJECTED,
        `injected error in worker ${worker} while it shuts down (FAULT=shutdown-throw:${worker})`,
      );
    };
    signal.addEventListener('abort', () => process.nextTick(strikeLate), { once: true });
    return;
  }
  const strike = (): void => {
    switch (fault.kind) {
      case 'worker-exit':
        process.exit(1); // in a worker thread this ends the thread only
        break;
      case 'worker-throw':
        throw new WorkerBaseError(
          ErrorCodes.FAULT_INJECTED,
          `injected error in worker ${worker} (FAULT=worker-throw:${worker})`,
        );
      case 'worker-hang':
        for (;;) {
          // Blocks the event loop for good: only terminate() ends it.
        }
      case 'worker-block':
        blockInSystemCall();
    }
  };
  delay(faultDelayMs, undefined, { signal, ref: false }).then(strike, () => undefined);
}

/**
 * Blocks this thread in read(2) for good: a FIFO opened for reading and writing (so the open
 * does not wait, and this thread holds its only writer), its name removed at once (nothing
 * is left on disk), then read. `terminate()` stops JavaScript, not a system call, as with a
 * sync read of a stuck NFS mount or a pipe nobody writes to.
 */
function blockInSystemCall(): never {
  const fs = process.getBuiltinModule('node:fs');
  const path = process.getBuiltinModule('node:path');
  const dir = fs.mkdtempSync(
    path.join(process.getBuiltinModule('node:os').tmpdir(), 'worker-block-'),
  );
  const fifo = path.join(dir, 'fifo');
  process.getBuiltinModule('node:child_process').execFileSync('mkfifo', [fifo]);
  const fd = fs.openSync(fifo, 'r+');
  fs.rmSync(dir, { recursive: true });
  fs.readSync(fd, Buffer.alloc(1));
  throw new Error('a read of a FIFO only this thread writes to returned');
}

/**
 * Called by the service once it is ready: arms `main-stall:MS` or `main-exit:CODE`, if set
 * (`faultDelayMs` and `mainExitDelayMs` later). Each runs from a setImmediate callback, after
 * the poll phase, as an I/O callback's work would: the next loop pass runs the due timers
 * before it reads what arrived meanwhile. Its start is logged (`fault drill: the main thread
 * stalls`, with `ms`; `fault drill: the main thread calls process.exit`, with `code`), the
 * last line main writes before it.
 */
export function armMainFault(fault: Fault, signal: AbortSignal, log: Pick<Logger, 'warn'>): void {
  if (fault.kind !== 'main-stall' && fault.kind !== 'main-exit') return;
  const delayMs = fault.kind === 'main-exit' ? mainExitDelayMs : faultDelayMs;
  delay(delayMs, undefined, { signal, ref: false }).then(
    () =>
      setImmediate(() => {
        if (fault.kind === 'main-exit') {
          log.warn({ code: fault.code }, 'fault drill: the main thread calls process.exit');
          process.exit(fault.code);
        }
        log.warn({ ms: fault.ms }, 'fault drill: the main thread stalls');
        blockMainFor(fault.ms);
      }),
    () => undefined,
  );
}

/** Blocks the calling thread's event loop for `ms`: nothing else on it runs meanwhile. */
function blockMainFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy: no timer, no signal handler, no I/O callback of this thread runs.
  }
}

/**
 * `shutdown-stall:MS`, as a step of the shutdown's close phase registered by the service at
 * start-up (the close phase comes after 'stop-workers'); undefined for any other fault.
 */
export function shutdownFaultStep(
  fault: Fault,
): { name: string; phase: 'close'; run: () => void } | undefined {
  if (fault.kind !== 'shutdown-stall') return undefined;
  return {
    name: 'fault drill shutdown-stall',
    phase: 'close',
    run: () => blockMainFor(fault.ms),
  };
}
