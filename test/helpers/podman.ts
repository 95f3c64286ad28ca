import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { runFile, type Finished } from './exec.js';
import { repoDir } from './supervisord.js';

/**
 * The project's image, built by scripts/image.sh, run as real containers with podman. Each
 * container gets a unique name and the label below; `removeAll()` (in after()) removes every
 * one this process started. Containers share the host's network, so each gets its own health
 * port and a ZeroMQ endpoint inside its own file system.
 */

/**
 * The tag `npm run image` builds, from this checkout: `npm test` builds it before the tiers
 * (scripts/run.sh), so the tests here find it cached.
 */
export const testImage = 'localhost/worker-base:dev';
export const testLabel = 'worker-base-test';

/** Runs podman to the end; never rejects. */
export function podman(args: string[], timeoutMs = 60_000): Promise<Finished> {
  return runFile('podman', args, { timeoutMs });
}

/**
 * Builds the image with scripts/image.sh (the same script as `npm run image`). Resolves with
 * the reason when podman cannot run on this machine (the script's exit 3); throws on any other
 * failure, with the script's last lines.
 */
export async function buildTestImage(): Promise<{ skip?: string; seconds: number }> {
  const started = Date.now();
  const result = await runFile('bash', [join(repoDir, 'scripts', 'image.sh')], {
    env: { ...process.env, IMAGE: testImage },
    timeoutMs: 20 * 60_000,
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (result.code === 3) return { skip: lastLines(result.stderr, 3), seconds };
  if (result.code !== 0) {
    throw new Error(`scripts/image.sh exited ${result.code}:\n${lastLines(result.stderr, 30)}`);
  }
  return { seconds };
}

/** A free TCP port on 127.0.0.1 (the containers share the host's network). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Extra `podman run` arguments (volumes, restart policy). */
  args?: string[];
  /** The command after the image (the entrypoint's arguments). */
  command?: string[];
}

const started = new Set<Container>();

export class Container {
  readonly name: string;
  readonly healthPort: number;
  /** When `podman run` returned (Date.now()). */
  readonly startedAt = Date.now();
  #output = '';
  #follower: ChildProcess | undefined;
  #waiters: Array<() => void> = [];

  private constructor(name: string, healthPort: number) {
    this.name = name;
    this.healthPort = healthPort;
  }

  /** `podman run -d` on the host network with a fresh health port; follows its logs. */
  static async run(options: RunOptions = {}): Promise<Container> {
    const port = await freePort();
    const container = new Container(`worker-base-test-${randomUUID().slice(0, 8)}`, port);
    started.add(container);
    const env = {
      HEALTH_PORT: String(port),
      ZMQ_PUB_ENDPOINT: 'ipc:///tmp/results.sock',
      SAMPLE_EVENT_INTERVAL_MS: '1000',
      ...options.env,
    };
    const result = await podman([
      'run',
      '-d',
      '--name',
      container.name,
      '--label',
      testLabel,
      '--network',
      'host',
      // podman 4.3 has no syslog driver; k8s-file keeps `podman logs` working.
      '--log-driver',
      'k8s-file',
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      ...(options.args ?? []),
      testImage,
      ...(options.command ?? []),
    ]);
    if (result.code !== 0) throw new Error(`podman run failed: ${result.stderr}`);
    container.#follow();
    return container;
  }

  /** Follows a container something else started (compose); removed by removeAll() too. */
  static adopt(name: string, healthPort = 0): Container {
    const container = new Container(name, healthPort);
    started.add(container);
    container.#follow();
    return container;
  }

  /** stdout and stderr of the container so far (supervisord, the service, the listener). */
  get output(): string {
    return this.#output;
  }

  #follow(): void {
    const child = spawn('podman', ['logs', '-f', this.name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer): void => {
      this.#output += chunk.toString('utf8');
      for (const wake of this.#waiters) wake();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    this.#follower = child;
  }

  /** Resolves when the output from character `from` on matches; rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs = 30_000, from = 0): Promise<RegExpExecArray> {
    const check = (): RegExpExecArray | null => pattern.exec(this.#output.slice(from));
    const seen = check();
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        reject(
          new Error(
            `no ${String(pattern)} within ${timeoutMs} ms in ${this.name}:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
      const wake = (): void => {
        const match = check();
        if (!match) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(match);
      };
      this.#waiters.push(wake);
    });
  }

  /** The service's JSON log lines with this message. */
  serviceLines(msg: string): Array<Record<string, unknown>> {
    return this.#output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((j) => j['msg'] === msg);
  }

  tail(lines = 25): string {
    return lastLines(this.#output, lines);
  }

  exec(command: string[], options: { user?: string } = {}): Promise<Finished> {
    const user = options.user === undefined ? [] : ['--user', options.user];
    return podman(['exec', ...user, this.name, ...command]);
  }

  /** `podman inspect --format`; trimmed. */
  async inspect(format: string): Promise<string> {
    const result = await podman(['inspect', '--format', format, this.name]);
    if (result.code !== 0) throw new Error(`podman inspect: ${result.stderr}`);
    return result.stdout.trim();
  }

  /** The service's pid inside the container, as supervisord knows it. */
  async servicePid(): Promise<number> {
    const result = await this.exec(['supervisorctl', 'pid', 'app']);
    const pid = Number(result.stdout.trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no service pid: ${result.stdout}`);
    return pid;
  }

  /** Sends a signal to a process inside (the image has no kill binary: the shell's builtin). */
  async kill(pid: number, signal: 'STOP' | 'CONT' | 'KILL'): Promise<void> {
    const result = await this.exec(['sh', '-c', `kill -${signal} ${pid}`]);
    if (result.code !== 0) throw new Error(`kill -${signal} ${pid}: ${result.stderr}`);
  }

  /** Resolves with the container's exit code once it has stopped; rejects after timeoutMs. */
  async waitForExit(timeoutMs = 60_000): Promise<number> {
    const result = await podman(['wait', this.name], timeoutMs);
    if (result.code !== 0) throw new Error(`podman wait: ${result.stderr}\n${this.tail()}`);
    return Number(result.stdout.trim());
  }

  /** Removes the container (KILL if it still runs) and stops following its logs. Idempotent. */
  async remove(): Promise<void> {
    started.delete(this);
    await podman(['rm', '-f', '-t', '0', this.name]);
    this.#follower?.kill();
  }

  /** Removes every container this process started. */
  static async removeAll(): Promise<void> {
    await Promise.all([...started].map((c) => c.remove()));
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}
