import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Spawns a built service as a real child process: the fixture service
 * (test/fixtures/service, the core's tests drive it) unless told otherwise, or the sample app
 * with `app: 'sample'` (only the sample's own tests, under test/app/, ask for it). Parses its
 * JSON log lines as they arrive, and lets a test wait for a line or for the exit, by event,
 * with a timeout. `stop()` kills what is left; call it in after()/t.after().
 */

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The fixture service's entry module (its main.ts). */
export const mainScript = fileURLToPath(new URL('../fixtures/service/main.js', import.meta.url));
/** The sample app's entry module: for the tests under test/app/ only. */
export const sampleScript = fileURLToPath(new URL('../../src/app/main.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; level?: string; thread?: string };

export interface ServiceProcessOptions {
  env?: Record<string, string>;
  /** The entry module to run; by default the fixture service's, or the sample's (`app`). */
  script?: string;
  /** 'sample': run the sample app (src/app) instead of the fixture service. */
  app?: 'fixture' | 'sample';
  args?: string[];
}

/** Environment for a quiet, fast, isolated fixture service. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    LOG_PRETTY: 'false',
    HEARTBEAT_MS: '200',
    FIXTURE_TICK_MS: '50',
    FIXTURE_JOB_MS: '5',
    ...extra,
  };
}

/** Environment for a quiet, fast, isolated sample app (with `app: 'sample'`). */
export function sampleEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
    LOG_PRETTY: 'false',
    HEARTBEAT_MS: '200',
    SAMPLE_EVENT_INTERVAL_MS: '50',
    SAMPLE_WORK_MS: '5',
    ...extra,
  };
}

export class ServiceProcess {
  /** Every process spawned through this class, so a suite can prove none is left behind. */
  static readonly spawned: ServiceProcess[] = [];
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(options: ServiceProcessOptions = {}) {
    const script = options.script ?? (options.app === 'sample' ? sampleScript : mainScript);
    this.child = spawn(process.execPath, [script, ...(options.args ?? [])], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ServiceProcess.spawned.push(this);
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: '(not json)', text };
      }
      this.lines.push(line);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.stderr.push(text));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first line (seen or to come) that matches; rejects after timeoutMs. */
  waitFor(match: string | ((l: LogLine) => boolean), timeoutMs = 10_000): Promise<LogLine> {
    const test = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `no log line ${String(match)} within ${timeoutMs} ms; last lines:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        match: test,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves with the exit; rejects after timeoutMs (the process is left to stop()). */
  async waitForExit(
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no exit within ${timeoutMs} ms; last lines:\n${this.tail()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True while the OS still has the process (asked of the kernel, not of Node). */
  get isAlive(): boolean {
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** The last lines, for failure messages. */
  tail(n = 15): string {
    return [
      ...this.lines.slice(-n).map((l) => JSON.stringify(l).slice(0, 400)),
      ...this.stderr.slice(-5),
    ].join('\n');
  }

  /** Kills the process if it is still running. Idempotent. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Whether the kernel shows SIGHUP caught by `pid` (/proc/PID/status): Node has no handler of its own. */
function hupCaught(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1] ?? '0';
    return (BigInt(`0x${mask}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * Resolves with ms since `since` when the service's entry module has installed its early
 * signal handlers (lifecycle/early-signals.ts: our code runs), seen as SIGHUP caught.
 */
export async function handlersInstalled(
  service: ServiceProcess,
  since = performance.now(),
): Promise<number> {
  for (;;) {
    if (hupCaught(service.pid)) return performance.now() - since;
    if (!service.isAlive)
      throw new Error(`exited before its handlers were seen:\n${service.tail()}`);
    await delay(1);
  }
}
