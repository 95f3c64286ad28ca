import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, PermanentError } from './errors.js';
import { nodesAt } from './schema-nodes.js';
import { ConfigErrorWriter, isContainer, type ConfigIssue } from './config-errors.js';
import { isMarkedNotSecret, isMarkedSecret, isSecretKey, rememberSecret } from './secrets.js';

/**
 * Loads the configuration once: JSON defaults from `config/`, overridden by environment
 * variables (a secret may come from the file named by `NAME_FILE`), validated by a zod
 * schema, and frozen. A bad value throws a ConfigError that names the key, the variable it
 * came from, what is wrong, and the expected form. A secret (a leaf marked `secret()` in the
 * schema, or any value read from a `NAME_FILE` unless its leaf is marked `notSecret()`) is
 * remembered for redaction before anything is validated, and a config error shows it masked
 * (a URL's userinfo, or all of it).
 */

export type EnvMap = Readonly<Record<string, string>>;
export type { ConfigIssue, SettingRef } from './config-errors.js';

export interface LoadConfigOptions<S extends z.ZodType> {
  schema: S;
  /** Environment variable name -> dotted config path. */
  env: EnvMap;
  /** Path of the JSON defaults file. */
  defaultsFile: string | URL;
  /** The environment to read; `process.env` by default. */
  source?: NodeJS.ProcessEnv;
  /**
   * Checks between settings of different sections, run once each is valid alone: a section's
   * own refinement cannot see another section, and a refinement of the whole object would
   * make `.extend()` refuse to replace its keys (which is how an app sets its `flags`).
   */
  crossChecks?: (config: z.infer<S>) => readonly ConfigIssue[];
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the defaults file ${String(file)} is not valid JSON`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const held = Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed);
    throw new ConfigError(`the defaults file ${String(file)} holds ${held}, not a JSON object`);
  }
  return parsed as Json;
}

/** The largest `NAME_FILE` read: a secret, a key or a certificate chain is far smaller. */
const maxVariableFileBytes = 1024 * 1024;

/**
 * The contents of a `NAME_FILE`: a regular file (a Docker or Kubernetes secret is one, through
 * its symbolic links) of at most 1 MiB. Anything else is a config error, never a hang or an
 * unbounded read: a FIFO or `/dev/stdin` would block the start for ever (it is opened
 * non-blocking, and refused), `/dev/zero` or a log file would be read into memory.
 */
function readSecretFile(variable: string, file: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new ConfigError(`${variable} names ${file}, which cannot be read`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ConfigError(`${variable} names ${file}, which is not a regular file`);
    }
    if (stat.size > maxVariableFileBytes) {
      throw new ConfigError(
        `${variable} names ${file}, which is larger than 1 MiB (${stat.size} bytes)`,
      );
    }
    // Read to the bound, not to the end the size promised: a file that grows (being written)
    // or that says 0 and has no end (/proc/self/pagemap: 2.2 GB in 7 s, deaf to TERM, read
    // in one synchronous call) is as large as what it gives.
    // In 64 KiB reads (procfs files take reads of whole records only).
    const chunk = 64 * 1024;
    const buffer = Buffer.alloc(maxVariableFileBytes + chunk);
    let length = 0;
    for (let n = -1; n !== 0 && length <= maxVariableFileBytes; length += n) {
      n = readSync(fd, buffer, length, chunk, null);
    }
    if (length > maxVariableFileBytes) {
      throw new ConfigError(`${variable} names ${file}, which is larger than 1 MiB`);
    }
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${variable} names ${file}, which cannot be read`, { cause: error });
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `NAME`, or the contents of the file `NAME_FILE` names, a leading byte-order mark and
 * trailing white space (blank lines, a CR) dropped: a secrets file rarely ends where its value
 * does, and an editor on Windows may start it with a BOM. OpenTelemetry's variables (`OTEL_`)
 * follow its specification: empty is the same as unset.
 */
function readVariable(
  source: NodeJS.ProcessEnv,
  name: string,
): { value: string; file?: string } | undefined {
  const file = source[`${name}_FILE`];
  if (file !== undefined && file !== '') {
    if (source[name] !== undefined) {
      throw new ConfigError(`${name} and ${name}_FILE are both set; set only one`);
    }
    const text = readSecretFile(`${name}_FILE`, file);
    return { value: text.replace(/^\uFEFF/, '').trimEnd(), file };
  }
  const value = source[name];
  if (value === '' && name.startsWith('OTEL_')) return undefined;
  return value === undefined ? undefined : { value };
}

/** Letters, maybe joined by `-`, `_` or `.`, under 16 characters: a name, not a key. */
function isPlainWord(text: string): boolean {
  return text.length < 16 && /^[A-Za-z]+(?:[-_.][A-Za-z]+)*$/.test(text);
}

/**
 * Calls `visit` with the path and value of every leaf of `value`: what is neither a plain
 * object nor a list (a list's elements are leaves of their own, their index in the path).
 */
function forEachLeaf(
  value: unknown,
  visit: (path: string[], leaf: unknown) => void,
  path: string[] = [],
): void {
  if (!isContainer(value)) {
    visit(path, value);
    return;
  }
  for (const [key, child] of Object.entries(value)) forEachLeaf(child, visit, [...path, key]);
}

/**
 * Whether the value at `path` is secret: the nearest mark on it or on what holds it decides
 * (`notSecret()`, then `secret()`, then a `NAME_FILE` that set it), so a list or an object
 * marked `secret()` has secret elements and leaves, and a list a `NAME_FILE` set has too.
 */
function isSecretAt(
  schema: z.ZodType,
  fromFiles: ReadonlySet<string>,
  path: readonly PropertyKey[],
): boolean {
  for (let end = path.length; end > 0; end--) {
    const prefix = path.slice(0, end);
    const nodes = nodesAt(schema, prefix);
    if (nodes.some(isMarkedNotSecret)) return false;
    if (nodes.some(isMarkedSecret) || fromFiles.has(prefix.map(String).join('.'))) return true;
  }
  return false;
}

/**
 * Runs a check of the schema (its parse, the cross-checks) where a fork's preprocess or
 * refinement may throw instead of adding an issue: that is a ConfigError naming where it threw,
 * not an uncaught error (70). Its message is left out: it may quote the value, a secret's.
 */
function checked<T>(what: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error;
    const frame = error instanceof Error ? firstOwnFrame(error.stack) : undefined;
    throw new ConfigError(
      `${what} threw ${name}${frame === undefined ? '' : ` ${frame}`} (its message is left out: it may quote a secret); a preprocess or refinement should add an issue, not throw`,
    );
  }
}

/** The first frame of a stack that is not zod's (nor Node's): where a fork's check threw. */
function firstOwnFrame(stack: string | undefined): string | undefined {
  const frames = (stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  const own = frames.find((line) => !/node_modules|node:internal/.test(line));
  return own?.trim();
}

export function loadConfig<S extends z.ZodType>(
  options: LoadConfigOptions<S>,
): Readonly<z.infer<S>> {
  const source = options.source ?? process.env;
  const raw = readDefaults(options.defaultsFile);
  const origin = new Map<string, string>();
  const fromFiles = new Set<string>();
  for (const [name, path] of Object.entries(options.env)) {
    const nodes = nodesAt(options.schema, path.split('.'));
    if (nodes.length === 0) {
      // A fork's typo in its env map (`greeter.greting`): the variable was read into a key the
      // schema drops, and the setting silently kept its default.
      throw new Error(`config env map: ${name} sets ${path}, which the schema has no key for`);
    }
    const read = readVariable(source, name);
    if (read === undefined) continue;
    // A secret mount that arrived empty would turn its integration off without a word. A
    // switch's file (notSecret: the fault drill's) may be emptied on purpose.
    if (read.file !== undefined && read.value === '' && !nodes.some(isMarkedNotSecret)) {
      throw new ConfigError(
        `${name}_FILE names ${read.file}, which is empty: unset ${name}_FILE, or set ${name}= to leave ${path} empty`,
      );
    }
    setPath(raw, path, read.value);
    origin.set(path, read.file === undefined ? name : `${name}_FILE`);
    if (read.file !== undefined) fromFiles.add(path);
  }
  const secretAt = (path: readonly PropertyKey[]): boolean =>
    isSecretAt(options.schema, fromFiles, path);
  // A secret's value is remembered (masked on every line from then on), but for a plain word
  // under a key not named like a secret: a header's dataset `production`, an org `default`, or
  // a bucket read from a file (INFLUX_BUCKET_FILE holding `metrics` masked that word on every
  // line: "component":"[Redacted]") are names, not keys.
  const remember = (path: readonly string[], leaf: unknown): void => {
    if (typeof leaf !== 'string' || !secretAt(path)) return;
    if (isPlainWord(leaf) && !isSecretKey(String(path.at(-1)))) return;
    rememberSecret(leaf);
  };
  // Before validation: a value that fails it must not be printed either.
  forEachLeaf(raw, remember);
  /** The value at `path` as loaded (the defaults and the variables), before validation. */
  const valueAt = (path: readonly PropertyKey[]): unknown => {
    let value: unknown = raw;
    for (const k of path) value = (value as Json | undefined)?.[k as string];
    return value;
  };
  const errors = new ConfigErrorWriter({
    schema: options.schema,
    env: options.env,
    origin,
    valueAt,
    secretAt,
  });
  const result = checked('the config schema', () => options.schema.safeParse(raw));
  if (!result.success) throw errors.invalid(result.error.issues, true);
  // A secret the schema turned into others (a list split from one variable, OTLP headers) is
  // each of them.
  forEachLeaf(result.data, remember);
  // Each section valid alone; then what holds between them.
  const crossIssues = checked('a config cross-check', () => options.crossChecks?.(result.data));
  if (crossIssues !== undefined && crossIssues.length > 0) throw errors.invalid(crossIssues, false);
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Validates one piece of work's input (a message body, a request) with a zod schema: the
 * zod boundary for run-time data, as `loadConfig()` is for the configuration. Returns the
 * parsed value; throws a PermanentError (no retry makes bad input good: `classify()` says
 * 'permanent') naming `what` and each issue, with zod's error as its `cause`.
 */
export function validateInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.');
    return key === '' ? issue.message : `${key}: ${issue.message}`;
  });
  throw new PermanentError(`invalid ${what}: ${issues.join('; ')}`, { cause: result.error });
}
