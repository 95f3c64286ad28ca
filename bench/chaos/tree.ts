import { waitForBroker } from '../../test/helpers/broker.js';
import type { FileLine } from '../../test/helpers/file-lines.js';
import { isRunning } from '../../test/helpers/npm-run.js';
import { Supervisord } from '../../test/helpers/supervisord.js';
import { abortable } from './observer.js';

/**
 * The supervised process tree the soak runs: the project's entrypoint.sh -> supervisord with
 * config/supervisord.conf -> the built service (test/helpers/supervisord.ts). When supervisord
 * exits by itself (the service went FATAL after too many fast failures, and the fatal-exit
 * listener stopped supervisord: what a broker outage longer than supervisord's retries does),
 * the tree is started again once the broker is back, as Docker's restart policy would do with
 * the container, and the restart is counted. Each tree is one "generation".
 */

/** A place in the trees' output: line `index` of generation `generation`. */
export interface Mark {
  generation: number;
  index: number;
}

export interface TreeExit {
  at: string;
  code: number | null;
  signal: string | null;
  /** supervisord's own last lines (not the service's) before it exited. */
  tail: string;
}

export class SupervisedTree {
  readonly #env: Record<string, string>;
  readonly #signal: AbortSignal;
  readonly #generations: Supervisord[] = [];
  readonly exits: TreeExit[] = [];
  #stopping = false;
  #replacing: Promise<void> | undefined;
  #onGeneration: (() => void)[] = [];
  readonly #baseFault: string;

  /**
   * `baseFault` is the FAULT every process starts with (the pill's `crash-on:TEXT`, harmless
   * until the pill is published): a process is "faulted" only when it started with another.
   */
  constructor(env: Record<string, string>, signal: AbortSignal, baseFault = '') {
    this.#env = env;
    this.#signal = signal;
    this.#baseFault = baseFault;
  }

  /** Starts the first tree. */
  start(): void {
    this.#add();
  }

  get current(): Supervisord {
    const sv = this.#generations.at(-1);
    if (sv === undefined) throw new Error('SupervisedTree not started');
    return sv;
  }

  /** Every `spawned: 'app'` so far, in every generation. */
  get spawnCount(): number {
    return this.#generations.reduce((n, sv) => n + sv.spawnedPids().length, 0);
  }

  /** The current end of the output. */
  mark(): Mark {
    return { generation: this.#generations.length - 1, index: this.current.output.lines.length };
  }

  /**
   * Resolves with the first line matching `match` after `from`, in that generation or a
   * later one; rejects when the run's signal aborts.
   */
  async waitLine(match: (line: FileLine) => boolean, from: Mark): Promise<FileLine> {
    let { generation, index } = from;
    for (;;) {
      const sv = this.#generations[generation];
      if (sv === undefined) {
        await abortable(new Promise<void>((r) => this.#onGeneration.push(r)), this.#signal);
        continue;
      }
      const found = await abortable(
        Promise.race([
          sv.output.waitFor(match, 24 * 3600_000, index),
          sv.exited.then(() => undefined),
        ]),
        this.#signal,
      );
      if (found !== undefined) return found;
      // That tree is gone: anything it wrote last, then the next tree from its first line.
      const late = sv.output.lines.slice(index).find(match);
      if (late !== undefined) return late;
      generation++;
      index = 0;
    }
  }

  /**
   * Resolves with the pid of the service once it is steady: the latest process supervisord
   * spawned has logged `ready` without a fault and supervisord has it RUNNING (up past
   * startsecs), and it is still alive.
   */
  async steady(): Promise<number> {
    for (;;) {
      const sv = this.current;
      const spawns = sv.output.filter(/spawned: 'app' with pid \d+/);
      const spawned = spawns.at(-1);
      if (spawned === undefined) {
        await this.waitLine((l) => /spawned: 'app' with pid/.test(l.text), this.mark());
        continue;
      }
      const pid = Number(/with pid (\d+)/.exec(spawned.text)?.[1]);
      const from: Mark = {
        generation: this.#generations.length - 1,
        index: sv.output.lines.indexOf(spawned),
      };
      await this.waitLine((l) => l.text.includes('success: app entered RUNNING state'), from);
      const ready = await this.waitLine(
        (l) => sv.serviceLine('ready', pid)(l) || /spawned: 'app'/.test(l.text),
        { ...from, index: from.index + 1 },
      );
      if (ready.json !== undefined && !this.#faulted(pid) && isRunning(pid)) {
        if (this.current === sv && sv.spawnedPids().at(-1) === pid) return pid;
      }
    }
  }

  /**
   * Resolves with the pid and line of the first `ready` after `from` of a process that did not
   * start with a fault and is not one of `exclude`.
   */
  async nextReady(from: Mark, exclude: number[] = []): Promise<{ pid: number; line: FileLine }> {
    const line = await this.waitLine((l) => {
      if (l.json?.['msg'] !== 'ready') return false;
      const pid = Number(l.json['pid']);
      return !exclude.includes(pid) && !this.#faulted(pid);
    }, from);
    return { pid: Number(line.json?.['pid']), line };
  }

  /** True when the `starting` line of `pid` (in any tree) names a fault. */
  #faulted(pid: number): boolean {
    return this.#generations.some((sv) =>
      sv.output.lines.some(
        (l) =>
          l.json?.['msg'] === 'starting' &&
          l.json['pid'] === pid &&
          l.json['fault'] !== undefined &&
          l.json['fault'] !== this.#baseFault,
      ),
    );
  }

  /** Stops the current tree (and waits for a replacement in progress). Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#replacing?.catch(() => undefined);
    for (const sv of this.#generations) await sv.stop();
  }

  #add(): void {
    const sv = new Supervisord(this.#env, undefined, 'sample');
    this.#generations.push(sv);
    for (const resolve of this.#onGeneration.splice(0)) resolve();
    void sv.exited.then(({ code, signal }) => {
      if (this.#stopping || this.#signal.aborted) return;
      const own = sv.output.lines.filter((l) => l.json === undefined).slice(-6);
      const tail = own.map((l) => l.text).join('\n');
      this.exits.push({ at: new Date().toISOString(), code, signal, tail });
      this.#replacing = this.#replace(sv);
    });
  }

  async #replace(old: Supervisord): Promise<void> {
    // Checks nothing of the old tree is left, and frees its temporary root.
    await old.stop();
    await waitForBroker(120_000);
    if (!this.#stopping && !this.#signal.aborted) this.#add();
  }
}
