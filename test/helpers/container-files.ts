import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runFile, type Finished } from './exec.js';
import { repoDir } from './supervisord.js';

/**
 * Readers for the container kit's files, as the programs that use them read them:
 * supervisord.conf as INI sections, the Dockerfile as instructions, the compose template
 * through the project's own renderer (scripts/render-compose.mjs) and a YAML parser.
 */

/** `[section]` -> key -> value, comments dropped (supervisord's `;` and `#` lines). */
export function readSupervisordConf(): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of readFileSync(join(repoDir, 'config', 'supervisord.conf'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return sections;
}

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, ... */
  keyword: string;
  args: string;
  /** Index of the build stage (FROM) it belongs to. */
  stage: number;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
export function readDockerfile(): Instruction[] {
  const text = readFileSync(join(repoDir, 'Dockerfile'), 'utf8');
  const logical = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  let stage = -1;
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    if (keyword.toUpperCase() === 'FROM') stage += 1;
    return { keyword: keyword.toUpperCase(), args: rest.join(' '), stage };
  });
}

/** Runs `node scripts/render-compose.mjs` with exactly `env` (plus PATH). */
export function renderCompose(
  env: Record<string, string>,
  dotenv: string,
  out: string,
): Promise<Finished> {
  return runFile(
    process.execPath,
    [join(repoDir, 'scripts', 'render-compose.mjs'), '--dotenv', dotenv, '--out', out],
    { env: { PATH: process.env['PATH'] ?? '', ...env } },
  );
}

/** The rendered compose file, parsed (throws on invalid YAML). */
export function readYaml(file: string): Record<string, unknown> {
  return parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}
