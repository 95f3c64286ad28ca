import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { runFile } from './exec.js';
import { isRunning } from './npm-run.js';
import { FileLines, type FileLine } from './file-lines.js';
import { mainScript, repoRoot, sampleEnv, testEnv } from './service-process.js';

/**
 * Runs the container's process tree for real, without a container: the project's
 * entrypoint.sh, which execs the real supervisord with the project's supervisord.conf, which
 * runs the built service. Every path is pointed at a fresh temporary root (own socket, own
 * pid file). supervisord's stdout, the container's stdout, is a file the test follows.
 * `stop()` ends the whole tree and checks nothing was left running; call it in after().
 */

export const repoDir = repoRoot.replace(/\/$/, '');
export const entrypointScript = join(repoDir, 'entrypoint.sh');
export const supervisordConf = join(repoDir, 'config', 'supervisord.conf');
/** The image's PATH first, so python3 and supervisord are the Debian ones, as in the image. */
const imagePath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the Dockerfile's ENV sets in the image, pointed at `root`. */
export function containerEnv(
  root: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: `${imagePath}:${process.env['PATH'] ?? ''}`,
    HOME: process.env['HOME'] ?? root,
    SUPERVISOR_CONF: supervisordConf,
    SUPERVISOR_RUN_DIR: join(root, 'run'),
    NODE_BIN: process.execPath,
    MAX_SEMI_SPACE_MB: '2',
    APP_DIR: repoDir,
    APP_USER: userInfo().username,
    // The test machine's cron would run the machine's own jobs: the tests leave it off.
    CRON_AUTOSTART: 'false',
    CRON_D_DIR: join(root, 'cron.d'),
    ...extra,
  };
}

export function makeRoot(): string {
  return mkdtempSync(join(tmpdir(), 'worker-base-container-'));
}

/**
 * An APP_DIR under `root` whose app (dist/src/app/main.js, where supervisord.conf and
 * entrypoint.sh look) is the fixture service, by a link: Node runs a linked entry module from
 * its real path, so its imports resolve in the repository. The kit's own files are the
 * repository's. A fork without the sample app runs the container tier all the same.
 */
export function fixtureAppDir(root: string): string {
  const dir = join(root, 'app');
  mkdirSync(join(dir, 'dist', 'src', 'app'), { recursive: true });
  symlinkSync(mainScript, join(dir, 'dist', 'src', 'app', 'main.js'));
  for (const kit of ['docker', 'config']) symlinkSync(join(repoDir, kit), join(dir, kit));
  return dir;
}

/** supervisord's own line time ("2026-11-23 14:29:03,622", local time) in ms since epoch. */
export function supervisordTime(line: FileLine): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) /.exec(line.text);
  if (!m) throw new Error(`not a supervisord line: ${line.text}`);
  return new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime();
}

/** A service log line's time in ms since epoch. */
export function serviceTime(line: FileLine): number {
  return Date.parse(String(line.json?.['time']));
}

export class Supervisord {
  readonly root: string;
  readonly env: Record<string, string>;
  readonly output: FileLines;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stopped: Promise<void> | undefined;

  /**
   * Starts entrypoint.sh (the repository's, or `entrypoint`) -> supervisord with the service's
   * test settings plus `env`. The app is the fixture service (see fixtureAppDir) unless `env`
   * sets APP_DIR, or `app` is 'sample' (the repository's own dist/src/app, for test/app/).
   */
  constructor(
    env: Record<string, string> = {},
    entrypoint = entrypointScript,
    app: 'fixture' | 'sample' = 'fixture',
  ) {
    this.root = makeRoot();
    // One job (or sample event) a second: the output stays readable in a failure message.
    const settings =
      app === 'sample'
        ? sampleEnv({ SAMPLE_EVENT_INTERVAL_MS: '1000' })
        : { ...testEnv({ FIXTURE_TICK_MS: '1000' }), APP_DIR: fixtureAppDir(this.root) };
    this.env = containerEnv(this.root, { ...settings, ...env });
    const outPath = join(this.root, 'container-stdout.log');
    // Appending, as Docker's log pipe does: supervisord's /dev/stdout lands here too.
    const out = openSync(outPath, 'a');
    this.child = spawn('/bin/sh', [entrypoint], {
      cwd: this.root,
      env: this.env,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    this.output = new FileLines(outPath);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with supervisord's exit; rejects after timeoutMs (stop() cleans up). */
  async waitForExit(
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(`supervisord still running after ${timeoutMs} ms:\n${this.output.tail()}`),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs supervisorctl against this supervisord; resolves with its exit code and output. */
  async supervisorctl(...args: string[]): Promise<{ code: number; stdout: string }> {
    const { code, stdout, stderr } = await runFile(
      'supervisorctl',
      ['-c', this.env['SUPERVISOR_CONF'] ?? supervisordConf, ...args],
      {
        env: this.env,
      },
    );
    return { code, stdout: stdout + stderr };
  }

  /** The pids supervisord spawned for `program` (a regular expression), in order. */
  spawnedPids(program = 'app'): number[] {
    const re = new RegExp(`spawned: '${program}' with pid (\\d+)`);
    return this.output.filter(re).map((l) => Number(re.exec(l.text)?.[1]));
  }

  /** Service log lines (JSON) with this message, from this pid when given. */
  serviceLine(msg: string, pid?: number): (l: FileLine) => boolean {
    return (l) => l.json?.['msg'] === msg && (pid === undefined || l.json['pid'] === pid);
  }

  /**
   * Stops supervisord with TERM (as docker stop does) and waits; if it is still there after
   * `timeoutMs`, kills it and every process group it spawned. Then checks that no process it
   * spawned is still running (throws, after killing them, if any was). Idempotent.
   */
  stop(timeoutMs = 20_000): Promise<void> {
    this.#stopped ??= this.#stop(timeoutMs);
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([this.exited, timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          this.child.kill('SIGKILL');
          await this.exited;
        }
      }
      // supervisord gives each child its own process group: kill those groups too.
      const left = this.spawnedPids("[^']+").filter(isRunning);
      for (const pid of left) killGroup(pid);
      if (left.length > 0) {
        throw new Error(`processes left running after supervisord stopped: ${left.join(', ')}`);
      }
    } finally {
      this.output.close();
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
