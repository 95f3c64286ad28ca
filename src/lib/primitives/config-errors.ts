import type { z } from 'zod';
import { ConfigError, fieldOf } from './errors.js';
import { describeAt } from './schema-nodes.js';
import { maskSecret, redacted } from './secrets.js';

/**
 * The configuration's errors as `loadConfig()` throws them: each issue's key, where its value
 * came from (a variable, its `_FILE`, the defaults), the value (every secret in it masked), what
 * is wrong and the expected form; an issue of a check between settings shows each setting the
 * check read, with its value in force and where it came from, and the variables that set them.
 */

/** A setting that is valid alone but not beside another: its path, why, and what it read. */
export interface ConfigIssue {
  path: readonly string[];
  message: string;
  settings?: readonly SettingRef[];
}

/**
 * A setting a check between settings read: a cross-check's `settings`, or `params.settings` on
 * a refinement's issue (`ctx.addIssue({ ..., params: { settings } })`). The error shows each
 * with its value in force and where that came from, and names the variables that set them, so
 * that it says what to change. Paths are relative to the object that holds the issue's key
 * (`'..'` climbs a level); the issue's own key may be among them, for its `inherits`.
 */
export interface SettingRef {
  key: readonly string[];
  /** Where the value in force is when `key` is not set (a policy's field: `default`'s). */
  inherits?: readonly string[];
}

/** The settings an issue carries in the form above (a fork's refinement may give others). */
function settingsOf(issue: { params?: unknown; settings?: readonly SettingRef[] }): SettingRef[] {
  const given = issue.settings ?? fieldOf(issue.params, 'settings');
  if (!Array.isArray(given)) return [];
  const isPath = (path: unknown): path is string[] =>
    Array.isArray(path) && path.every((key) => typeof key === 'string');
  return given.flatMap((setting: unknown) => {
    const key = fieldOf(setting, 'key');
    const inherits = fieldOf(setting, 'inherits');
    if (!isPath(key)) return [];
    return [isPath(inherits) ? { key, inherits } : { key }];
  });
}

/** `relative` (`'..'` climbs a level) from the object that holds the key at `path`. */
function resolveFrom(path: readonly PropertyKey[], relative: readonly string[]): string[] {
  const resolved = path.slice(0, -1).map(String);
  for (const key of relative) {
    if (key === '..') resolved.pop();
    else resolved.push(key);
  }
  return resolved;
}

type Json = Record<string, unknown>;

/** What the errors are written from: the loader's schema, env map, origins and values. */
export interface ConfigErrorContext {
  schema: z.ZodType;
  /** Variable name -> the key it sets. */
  env: Readonly<Record<string, string>>;
  /** Key -> the variable (or `NAME_FILE`) that set it. */
  origin: ReadonlyMap<string, string>;
  /** The value at a path as loaded (the defaults and the variables), before validation. */
  valueAt: (path: readonly PropertyKey[]) => unknown;
  secretAt: (path: readonly PropertyKey[]) => boolean;
}

/** An issue as zod or a cross-check gives it. */
interface AnyIssue {
  path: readonly PropertyKey[];
  message: string;
  params?: unknown;
  settings?: readonly SettingRef[];
}

export class ConfigErrorWriter {
  readonly #c: ConfigErrorContext;

  constructor(context: ConfigErrorContext) {
    this.#c = context;
  }

  /** The error naming each issue's key, where its value came from, and why. */
  invalid(issues: readonly AnyIssue[], withExpected: boolean): ConfigError {
    const { origin, valueAt, schema } = this.#c;
    const lines = issues.map((issue) => {
      const settings = issue.path.length === 0 ? [] : settingsOf(issue);
      if (settings.length > 0) return this.#betweenSettings(issue, settings);
      // An issue inside one variable's value (an element of a list it sets) is that variable's,
      // and its value is what the variable says, not a character of it.
      const set = issue.path.findIndex((_, i) => origin.has(issue.path.slice(0, i + 1).join('.')));
      const valuePath = set === -1 ? issue.path : issue.path.slice(0, set + 1);
      const valueKey = valuePath.map(String).join('.');
      const key =
        issue.path.length === 0 ? '(the configuration)' : issue.path.map(String).join('.');
      const expected = withExpected ? describeAt(schema, issue.path) : undefined;
      const value = valueAt(valuePath);
      const shown = valuePath.length > 0 ? this.#shownAt(valuePath, value) : '';
      const from = origin.get(valueKey);
      const hint = from === undefined ? undefined : serviceLinkHint(from, value);
      return `  - ${key} (${originOf(origin, valueKey)})${shown}: ${issue.message}${expected === undefined ? '' : `; expected ${expected}`}${hint === undefined ? '' : ` (${hint})`}`;
    });
    return new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }

  /** ` = value` as an error shows the value at `path`: masked when secret. */
  #shownAt(path: readonly PropertyKey[], value: unknown): string {
    const { secretAt } = this.#c;
    if (value === undefined) return ' = missing';
    if (secretAt(path)) {
      return ` = ${typeof value === 'string' ? maskSecret(value) : redacted} (secret)`;
    }
    return ` = ${JSON.stringify(shownValue(value, path, secretAt))}`;
  }

  /** The variables the env map reads into `key`. */
  #variablesOf(key: string): string[] {
    return Object.entries(this.#c.env)
      .filter(([, path]) => path === key)
      .map(([name]) => name);
  }

  /**
   * A setting a check between settings read: its key, where its value in force came from (an
   * inherited one: from where), the value, and what sets it (its variables; an inherited one's,
   * those of where it comes from too; a key no variable sets: the key, in the defaults).
   */
  #describeSetting(path: readonly string[], inherits: readonly string[] | undefined) {
    const { origin, valueAt } = this.#c;
    const key = path.join('.');
    const setBy = this.#variablesOf(key);
    if (setBy.length === 0) setBy.push(`${key} in config/ defaults`);
    if (valueAt(path) === undefined && inherits !== undefined) {
      const source = inherits.join('.');
      const value = valueAt(inherits);
      if (value !== undefined) {
        return {
          text: `${key} (inherited from ${source}, ${originOf(origin, source)})${this.#shownAt(inherits, value)}`,
          setBy: [...setBy, ...this.#variablesOf(source)],
        };
      }
    }
    return {
      text: `${key} (${originOf(origin, key)})${this.#shownAt(path, valueAt(path))}`,
      setBy,
    };
  }

  /**
   * The line of an issue of a check between settings: its key and the settings it read, each
   * with its value in force and where it came from, and the variables to set. The values have
   * the form their keys expect (each was valid alone): no `expected`.
   */
  #betweenSettings(issue: AnyIssue, settings: readonly SettingRef[]): string {
    const key = issue.path.map(String).join('.');
    const resolved = settings.map((s) => ({
      path: resolveFrom(issue.path, s.key),
      inherits: s.inherits === undefined ? undefined : resolveFrom(issue.path, s.inherits),
    }));
    const own = resolved.find((s) => s.path.join('.') === key) ?? {
      path: issue.path.map(String),
      inherits: undefined,
    };
    const others = resolved
      .filter((s) => s !== own)
      .map((s) => this.#describeSetting(s.path, s.inherits));
    const first = this.#describeSetting(own.path, own.inherits);
    const setBy = [...new Set([first, ...others].flatMap((s) => s.setBy))];
    const read = others.length === 0 ? '' : `; with ${others.map((s) => s.text).join(', ')}`;
    return `  - ${first.text}: ${issue.message}${read}; set one of ${setBy.join(', ')}`;
  }
}

/** Whether `value` is a plain object or a list, the containers a config is made of. */
export function isContainer(value: unknown): value is Json | unknown[] {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return Array.isArray(value) || proto === Object.prototype || proto === null;
}

/** `value` as a config error shows it: every secret in it masked, whatever its depth. */
function shownValue(
  value: unknown,
  path: readonly PropertyKey[],
  secretAt: (path: readonly PropertyKey[]) => boolean,
): unknown {
  if (secretAt(path)) return typeof value === 'string' ? maskSecret(value) : redacted;
  if (Array.isArray(value)) return value.map((item, i) => shownValue(item, [...path, i], secretAt));
  if (!isContainer(value)) return value;
  const shown: Json = {};
  for (const [key, child] of Object.entries(value)) {
    shown[key] = shownValue(child, [...path, key], secretAt);
  }
  return shown;
}

/**
 * Where the value at `key` came from: a variable, the defaults, or (an object or the whole
 * configuration, which a fork's refinement may be about) the defaults and the variables inside.
 */
function originOf(origin: ReadonlyMap<string, string>, key: string): string {
  const from = origin.get(key);
  if (from !== undefined) return `environment ${from}`;
  const inside = [...origin]
    .filter(([path]) => key === '' || path.startsWith(`${key}.`))
    .map(([, variable]) => variable);
  return inside.length === 0
    ? 'config/ defaults'
    : `config/ defaults and environment ${inside.join(', ')}`;
}

/**
 * Kubernetes' service links set `<SERVICE>_PORT=tcp://IP:PORT` (and more) in every pod for each
 * Service of its namespace: a Service named `health` sets HEALTH_PORT, which then fails as a
 * port number. Says so for a `..._PORT` variable holding such a value.
 */
function serviceLinkHint(variable: string, value: unknown): string | undefined {
  if (!variable.endsWith('_PORT') || typeof value !== 'string') return undefined;
  if (!/^(tcp|udp|sctp):\/\/[^\s/]+:\d+$/.test(value)) return undefined;
  const service = variable.slice(0, -'_PORT'.length).toLowerCase().replaceAll('_', '-');
  return `this is how Kubernetes' service links name a Service called ${service}: rename that Service, or set enableServiceLinks: false in the pod spec`;
}
