import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Loads the configuration once: JSON defaults from `config/`, overridden by environment
 * variables (a secret may come from the file named by `NAME_FILE`), validated by a zod
 * schema, and frozen. A bad value throws a ConfigError that names the key, the variable it
 * came from, what is wrong, and the expected form.
 */

export type EnvMap = Readonly<Record<string, string>>;

export interface LoadConfigOptions<S extends z.ZodType> {
  schema: S;
  /** Environment variable name -> dotted config path. */
  env: EnvMap;
  /** Path of the JSON defaults file. */
  defaultsFile: string | URL;
  /** The environment to read; `process.env` by default. */
  source?: NodeJS.ProcessEnv;
}

type Json = Record<string, unknown>;

function setPath(target: Json, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Json;
  }
  node[keys.at(-1) as string] = value;
}

function readDefaults(file: string | URL): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the defaults file ${String(file)}`, { cause: error });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new ConfigError(`the defaults file ${String(file)} is not valid JSON`, { cause: error });
  }
}

/** Reads `NAME`, or the contents of the file `NAME_FILE` names (trailing newline dropped). */
function readVariable(source: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = source[`${name}_FILE`];
  if (file !== undefined && file !== '') {
    if (source[name] !== undefined) {
      throw new ConfigError(`${name} and ${name}_FILE are both set; set only one`);
    }
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(`${name}_FILE names ${file}, which cannot be read`, { cause: error });
    }
  }
  return source[name];
}

/** Finds the `.describe()` text of the schema node at `path`, looking through wrappers. */
function describeAt(schema: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  let node: unknown = schema;
  let found: string | undefined;
  const unwrap = (): void => {
    for (let i = 0; i < 10 && node !== undefined; i++) {
      const described = (node as { description?: string }).description;
      if (described !== undefined) found = described;
      const def = (node as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      const inner = def?.['innerType'] ?? def?.['out'] ?? def?.['schema'];
      if (inner === undefined) return;
      node = inner;
    }
  };
  unwrap();
  for (const key of path) {
    found = undefined;
    const shape = (node as { shape?: Record<PropertyKey, unknown> }).shape;
    const def = (node as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    node = shape?.[key] ?? def?.['catchall']; // catchall: a record-like section (policies)
    if (node === undefined) return undefined;
    unwrap();
  }
  return found;
}

export function loadConfig<S extends z.ZodType>(
  options: LoadConfigOptions<S>,
): Readonly<z.infer<S>> {
  const source = options.source ?? process.env;
  const raw = readDefaults(options.defaultsFile);
  const origin = new Map<string, string>();
  for (const [name, path] of Object.entries(options.env)) {
    const value = readVariable(source, name);
    if (value === undefined) continue;
    setPath(raw, path, value);
    origin.set(path, name);
  }
  const result = options.schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.map(String).join('.');
      const from = origin.get(key);
      const where = from === undefined ? 'config/ defaults' : `environment ${from}`;
      let value: unknown = raw;
      for (const k of issue.path) value = (value as Json | undefined)?.[k as string];
      const expected = describeAt(options.schema, issue.path);
      const shown = value === undefined ? 'missing' : JSON.stringify(value);
      return `  - ${key} (${where}) = ${shown}: ${issue.message}${expected === undefined ? '' : `; expected ${expected}`}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
