import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './http-recorder.js';
import { pollUntil, spawnUntilReady, stopChild } from './child-server.js';

/**
 * A real VictoriaMetrics (Debian package `victoria-metrics`, installed by
 * scripts/test-prereqs.sh) on a free loopback port with a temporary storage directory. It
 * accepts the InfluxDB client's /api/v2/write; tests read the points back with /api/v1/export.
 */

export const victoriaMetricsBinary = 'victoria-metrics';

/** Why VictoriaMetrics cannot run here, or undefined when it can. */
export function victoriaMetricsMissing(): string | undefined {
  const probe = spawnSync(victoriaMetricsBinary, ['-version'], { encoding: 'utf8' });
  if (probe.error === undefined && probe.status === 0) return undefined;
  return `victoria-metrics is not installed (${probe.error?.message ?? `exit ${String(probe.status)}`}); install the Debian package victoria-metrics (scripts/test-prereqs.sh does)`;
}

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export class VictoriaMetrics {
  #child: ChildProcess | undefined;
  #dir: string | undefined;
  #port = 0;
  readonly output: string[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Starts it (on `port`, or a free one) and resolves once it serves HTTP. */
  async start(timeoutMs = 20_000, port?: number): Promise<void> {
    this.#port = port ?? (await freePort());
    this.#dir = mkdtempSync(join(tmpdir(), 'vm-test-'));
    // 1.79 logs "starting http server at", newer releases "started server at".
    this.#child = await spawnUntilReady(
      victoriaMetricsBinary,
      [
        `-httpListenAddr=127.0.0.1:${this.#port}`,
        `-storageDataPath=${this.#dir}`,
        '-search.latencyOffset=0s',
        '-loggerOutput=stderr',
      ],
      /start(ing|ed) (http )?server at/,
      this.output,
      timeoutMs,
    );
    // The line comes just before the listen() call: confirm it answers (no event for that).
    for (let attempt = 0; ; attempt++) {
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch (error) {
        if (attempt >= 50) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Every sample of the series whose name matches `nameRegex`, after a forced flush. */
  async export(nameRegex: string): Promise<ExportedSeries[]> {
    await fetch(`${this.url}/internal/force_flush`);
    const match = encodeURIComponent(`{__name__=~"${nameRegex}"}`);
    const res = await fetch(`${this.url}/api/v1/export?match[]=${match}`);
    if (!res.ok) throw new Error(`export failed: ${res.status} ${await res.text()}`);
    return (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ExportedSeries);
  }

  /**
   * Reads until `done(series)` holds or `timeoutMs` passes (then returns what it last read).
   * VictoriaMetrics makes new rows searchable about a second after they are written, and has
   * no notification for it, so this re-reads every 100 ms.
   */
  async exportWhen(
    nameRegex: string,
    done: (series: ExportedSeries[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<ExportedSeries[]> {
    return pollUntil(() => this.export(nameRegex), done, timeoutMs, 100);
  }

  /** Stops it (TERM, then KILL after 5 s) and removes its storage. Idempotent. */
  async stop(): Promise<void> {
    await stopChild(this.#child, this.#dir);
    this.#dir = undefined;
  }
}
