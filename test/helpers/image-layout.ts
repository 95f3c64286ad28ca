import { cpSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { readDockerfile, type Instruction } from './container-files.js';
import { runFile } from './exec.js';
import { repoDir } from './supervisord.js';

/**
 * Lays out the Dockerfile's runtime stage under a directory, without a Docker engine: its
 * COPY instructions (`--from=build` takes the checkout's own tsc output, which the build
 * stage produces the same way), its `npm ci` RUN steps, and its ENV with absolute paths moved
 * under the directory. The apt-get and useradd steps cannot run here: supervisor comes from
 * the machine, and the service runs as the current user.
 */

export interface ImageLayout {
  root: string;
  /** The image's ENV, paths moved under root; ready for the Supervisord helper. */
  env: Record<string, string>;
  entrypoint: string;
  /** The RUN steps that were skipped, for the test's log. */
  skipped: string[];
}

export async function layOutRuntimeStage(root: string): Promise<ImageLayout> {
  const all = readDockerfile();
  const runtimeStage = Math.max(...all.map((i) => i.stage));
  const buildWorkdir = lastWorkdir(all.filter((i) => i.stage !== runtimeStage));
  const args = new Map<string, string>();
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  let workdir = '/';
  let entrypoint = '';
  const under = (path: string): string => join(root, isAbsolute(path) ? path : join(workdir, path));

  for (const { keyword, args: text } of all.filter((i) => i.stage === runtimeStage)) {
    switch (keyword) {
      case 'WORKDIR':
        workdir = text;
        mkdirSync(under('.'), { recursive: true });
        break;
      case 'ARG': {
        const [name = '', value = ''] = text.split('=');
        args.set(name, value);
        break;
      }
      case 'COPY': {
        const parts = text.split(/\s+/);
        const fromBuild = parts[0] === '--from=build';
        const paths = parts.filter((p) => !p.startsWith('--'));
        const destText = paths.pop() ?? '';
        // Docker: several sources, or a destination ending in '/', means "into this directory".
        const intoDir = paths.length > 1 || destText.endsWith('/');
        for (const source of paths) {
          // The build stage ran tsc in its WORKDIR; here the checkout holds that output.
          const from = join(repoDir, fromBuild ? source.replace(buildWorkdir, '') : source);
          const dest =
            intoDir && !statSync(from).isDirectory()
              ? join(under(destText), basename(from))
              : under(destText);
          mkdirSync(dirname(dest), { recursive: true });
          cpSync(from, dest, { recursive: true });
        }
        break;
      }
      case 'RUN':
        for (const step of text.split('&&').map((s) => s.trim())) {
          if (!step.startsWith('npm ci')) {
            skipped.push(step);
            continue;
          }
          const result = await runFile('npm', step.split(/\s+/).slice(1), { cwd: under('.') });
          if (result.code !== 0) throw new Error(`${step} failed:\n${result.stderr}`);
        }
        break;
      case 'ENV':
        for (const m of text.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) {
          const value = (m[3] ?? m[2] ?? '').replace(
            /\$\{(\w+)\}/g,
            (_, n: string) => args.get(n) ?? '',
          );
          env[m[1]!] = value.startsWith('/') ? join(root, value) : value;
        }
        break;
      case 'ENTRYPOINT':
        entrypoint = join(root, (JSON.parse(text) as string[])[0]!);
        break;
      default:
        break;
    }
  }
  // The image's node at its image path; the image's user and cron are the machine's concern.
  mkdirSync(dirname(env['NODE_BIN']!), { recursive: true });
  symlinkSync(process.execPath, env['NODE_BIN']!);
  env['APP_USER'] = userInfo().username;
  env['CRON_AUTOSTART'] = 'false';
  // Off until a test wants it: a fixed port would clash between parallel tests.
  delete env['HEALTH_PORT'];
  return { root, env, entrypoint, skipped };
}

function lastWorkdir(instructions: Instruction[]): string {
  return instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
}
