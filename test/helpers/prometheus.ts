import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './http-recorder.js';
import { pollUntil, spawnUntilReady, stopChild } from './child-server.js';

/**
 * A real Prometheus (Debian package `prometheus`, installed by scripts/test-prereqs.sh) on a
 * free loopback port, with a temporary config that scrapes one target every 500 ms and a
 * temporary storage directory. Tests read series back through its HTTP query API.
 */

/** Why Prometheus cannot run here, or undefined when it can. */
export function prometheusMissing(): string | undefined {
  const probe = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  if (probe.error === undefined && probe.status === 0) return undefined;
  return `prometheus is not installed (${probe.error?.message ?? `exit ${String(probe.status)}`}); install the Debian package prometheus (scripts/test-prereqs.sh does)`;
}

/** `promtool check metrics` on an exposition: its output (empty when clean) and status. */
export function promtoolCheck(exposition: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

export interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

export class Prometheus {
  #child: ChildProcess | undefined;
  #dir: string | undefined;
  #port = 0;
  readonly output: string[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Starts it scraping `target` (host:port, path /metrics); resolves once it is ready. */
  async start(target: string, timeoutMs = 30_000): Promise<void> {
    this.#port = await freePort();
    this.#dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
    const config = join(this.#dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 500ms',
        '  scrape_timeout: 400ms',
        'scrape_configs:',
        '  - job_name: service',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    this.#child = await spawnUntilReady(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(this.#dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.#port}`,
      ],
      /Server is ready to receive web requests/,
      this.output,
      timeoutMs,
    );
  }

  /** An instant query's result vector. */
  async query(promql: string): Promise<QueryResult[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { result: QueryResult[] } };
    if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`);
    return body.data?.result ?? [];
  }

  /**
   * Queries until `done(result)` holds or `timeoutMs` passes (then returns the last result).
   * Prometheus has no notification for a new scrape, so this re-queries every 200 ms.
   */
  async queryWhen(
    promql: string,
    done: (result: QueryResult[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<QueryResult[]> {
    return pollUntil(() => this.query(promql), done, timeoutMs, 200);
  }

  /** Stops it (TERM, then KILL after 5 s) and removes its config and storage. Idempotent. */
  async stop(): Promise<void> {
    await stopChild(this.#child, this.#dir);
    this.#dir = undefined;
  }
}
