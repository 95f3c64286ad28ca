/**
 * Secrets are decided by key, not by pattern. The configuration marks its secret leaves
 * (URLs that may carry credentials, DSNs, tokens, API keys) with `secret()`, and every value
 * read from a `NAME_FILE` counts as one too; `loadConfig` remembers their text here, in this
 * thread's set. Every log line and every error report then passes `redactSecrets` (each known
 * secret, in each form it can take in a JSON line or a URL, becomes `[Redacted]`, whatever its
 * characters; the userinfo of any URL is masked) and, when it carries a key named like a
 * secret (`authorization`, `password`, `token`, `apiKey`, ... at any depth), `scrubSecrets`.
 *
 * One set per thread, like the logger's level: the worker runtime fills its own from the list
 * main passes in `workerData`. Secrets shorter than `minSecretLength` are not searched for in
 * free text (a 3-letter password would mask every word containing it); they are still masked
 * wherever they are printed by key: config errors, URL userinfo, fields named like secrets.
 */

import { definitionOf } from './schema-nodes.js';

export const redacted = '[Redacted]';

/** Shorter secrets are masked by key only, never searched for in free text. */
export const minSecretLength = 6;

/** Schema nodes marked secret that are no zod schema, by identity. */
const secretNodes = new WeakSet<object>();

/**
 * The mark on a zod schema's definition. zod's methods return new schemas: `.describe()` and
 * `.meta()` share the definition, `.min()`, `.refine()`, `.trim()` copy it with its own
 * properties, symbols included, and wrappers (`.optional()`, `.default()`) keep the marked
 * schema inside. A mark on the schema object alone was lost by `secret(s).describe('...')`, and
 * the value printed whole in a config error.
 */
const secretMark = Symbol('worker-base secret');

/** Marks a config schema leaf secret: its value is never printed whole. Returns the node. */
export function markSecret<T extends object>(node: T): T {
  const def = definitionOf(node);
  if (def === undefined) secretNodes.add(node);
  else def[secretMark] = true;
  return node;
}

/** Whether a schema node was marked with `markSecret` (or made from one that was). */
export function isMarkedSecret(node: unknown): boolean {
  if (typeof node !== 'object' || node === null) return false;
  return definitionOf(node)?.[secretMark] === true || secretNodes.has(node);
}

/** Schema nodes marked never secret, even when their value comes from a `NAME_FILE`. */
const plainNodes = new WeakSet<object>();

/**
 * Marks a config schema leaf as never secret, even from a `NAME_FILE`: a switch whose value
 * must show in the logs (the fault drill's `FAULT_FILE`). Returns the node.
 */
export function markNotSecret<T extends object>(node: T): T {
  plainNodes.add(node);
  return node;
}

/** Whether a schema node was marked with `markNotSecret`. */
export function isMarkedNotSecret(node: unknown): boolean {
  return typeof node === 'object' && node !== null && plainNodes.has(node);
}

/**
 * A remembered text and what replaces it: `[Redacted]`, or for a URL's path or query, the `/`
 * or `?` that starts it and `[Redacted]` (`/tracing` would otherwise be the word `tracing`).
 */
export type KnownSecret = readonly [text: string, mask: string];

/** The texts to find, longest first, so a secret inside a longer one cannot leave a part. */
let known: KnownSecret[] = [];

function addKnown(entries: Iterable<KnownSecret>): void {
  const all = new Map(known);
  for (const [text, mask] of entries) if (!all.has(text)) all.set(text, mask);
  known = [...all].sort((a, b) => b[0].length - a[0].length);
}

/**
 * Remembers a secret value, and the forms it takes in a JSON line (escaped once, and twice
 * for a JSON text logged as a string) and inside a URL: percent-encoded and decoded. For a
 * URL, the secret is its userinfo's password or, when there is none (or it is empty), its
 * username (a token, a Sentry key), and the rest (host, path) stays readable. A URL without
 * userinfo carries its secret in its path or query (a webhook's, a ping URL's key, `?token=`),
 * so that is the secret, remembered with the `/` or `?` that starts it: the path of an
 * endpoint that holds none (`http://collector:4318/tracing`) must not make its words secrets.
 * Idempotent; values shorter than `minSecretLength` are not remembered (see above).
 */
export function rememberSecret(value: string): void {
  const entries = new Map<string, string>();
  const add = (text: string | undefined, lead = ''): void => {
    if (text === undefined || text.length < minSecretLength) return;
    const escaped = JSON.stringify(text).slice(1, -1);
    for (const form of [text, escaped, JSON.stringify(escaped).slice(1, -1)]) {
      entries.set(`${lead}${form}`, `${lead}${redacted}`);
    }
    entries.set(encodeURIComponent(`${lead}${text}`), redacted);
    const decoded = safeDecode(text);
    if (decoded !== text) add(decoded, lead);
  };
  const credential = scheme.test(value) ? splitUserinfo(value, 'value') : undefined;
  const location =
    scheme.test(value) && credential === undefined ? splitLocation(value) : undefined;
  if (credential !== undefined) add(credential.secret);
  else if (location !== undefined) {
    add(location.secret, location.head.slice(-1));
    // As a URL parser writes it back (what a client's error or a `url.pathname` prints): the
    // path and the query apart, in its encoding (`é` as `%C3%A9`, `"` as `%22`). A webhook's
    // secret path was logged whole when its URL had a query, or a character the parser encodes.
    for (const [part, lead] of urlParts(value)) add(part, lead);
  } else if (!scheme.test(value)) add(value);
  addKnown(entries);
}

/** The secrets remembered in this thread (to pass to a worker thread). */
export function knownSecrets(): KnownSecret[] {
  return [...known];
}

/** Adds texts another thread remembered (a worker's runtime, from main's list). */
export function adoptSecrets(entries: readonly KnownSecret[]): void {
  addKnown(entries);
}

/** Forgets every remembered secret (tests). */
export function forgetSecrets(): void {
  known = [];
}

/**
 * How to show a secret value: a URL with its userinfo masked (`amqp://user:[Redacted]@host/`,
 * `https://[Redacted]@host/1` for a username-only credential) or, without userinfo, its path
 * and query (`https://hooks.example/[Redacted]`), anything else as `[Redacted]`. Empty stays
 * empty (an integration that is off).
 */
export function maskSecret(value: string): string {
  if (value === '') return '';
  if (!scheme.test(value) || /\s/.test(value.trim())) return redacted;
  const parts = splitUserinfo(value, 'value');
  if (parts !== undefined) return maskedUrl(parts);
  const location = splitLocation(value);
  return location === undefined ? value : `${location.head}${redacted}`;
}

/** Masks every remembered secret and the userinfo of every URL in `text`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [secret, mask] of known) {
    if (out.includes(secret)) out = out.split(secret).join(mask);
  }
  if (out.includes('@')) {
    out = out.replace(urlInText, (url) => {
      const parts = splitUserinfo(url, 'text');
      return parts === undefined ? url : maskedUrl(parts);
    });
  }
  return out;
}

const scheme = /^[a-z][a-z0-9+.-]*:\/\//i;
/**
 * `scheme://` up to a quote or white space: a URL in free text (the end of a JSON value). The
 * scheme is read as at most 32 characters: unbounded, the search tried every letter of a long
 * run (a 200,000-letter error name in a line with an `@`) to the run's end, quadratic, and held
 * the thread 19 s for one line (20 ms now). A URL right after a longer run still matches.
 */
const urlInText = /[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"]*/gi;

interface UrlParts {
  before: string;
  /** The username when a password follows it; undefined for a username-only credential. */
  user: string | undefined;
  secret: string;
  after: string;
}

function maskedUrl(parts: UrlParts): string {
  const user = parts.user === undefined ? '' : `${parts.user}:`;
  return `${parts.before}${user}${redacted}@${parts.after}`;
}

/**
 * A URL's userinfo. A config value ('value') takes everything between `scheme://` and its
 * last `@`: the config refuses an `@` after the host, so any later `@` is a password's
 * unencoded one (`user:Secret@Tail/Rest@host`, whose authority by the URL's rules would end in
 * the middle of the password). Free text ('text') goes by the URL's structure, the last `@` of
 * the authority (which ends at the first `/`, `?` or `#`), and past it only when a `:` comes
 * before that `@` (`user:pa/ss@host`), so that `https://host/?mail=a@b` stays as it is.
 */
function splitUserinfo(url: string, from: 'value' | 'text'): UrlParts | undefined {
  const start = scheme.exec(url)?.[0];
  if (start === undefined) return undefined;
  const rest = url.slice(start.length);
  const end = rest.search(/[/?#]/);
  let at = from === 'value' ? -1 : (end < 0 ? rest : rest.slice(0, end)).lastIndexOf('@');
  if (at < 0) {
    at = rest.lastIndexOf('@');
    if (at < 0 || (from === 'text' && !rest.slice(0, at).includes(':'))) return undefined;
  }
  const info = rest.slice(0, at);
  if (info === '') return undefined;
  // `KEY:@host` (a key as user name, the password left empty) is a username-only credential.
  const colon = info.indexOf(':');
  const userOnly = colon < 0 || colon === info.length - 1;
  return {
    before: start,
    user: userOnly ? undefined : info.slice(0, colon),
    secret: userOnly ? info.slice(0, colon < 0 ? undefined : colon) : info.slice(colon + 1),
    after: rest.slice(at + 1),
  };
}

/**
 * A URL's path, query and fragment (`secret`, without the `/`, `?` or `#` that starts them)
 * and what comes before (`head`: scheme, host, that separator); undefined when there are none
 * (`http://influx:8086`, `http://influx:8086/`).
 */
function splitLocation(url: string): { head: string; secret: string } | undefined {
  const start = scheme.exec(url)?.[0];
  if (start === undefined) return undefined;
  const end = url.slice(start.length).search(/[/?#]/);
  if (end < 0) return undefined;
  const cut = start.length + end + 1;
  return cut < url.length ? { head: url.slice(0, cut), secret: url.slice(cut) } : undefined;
}

/** A URL's path (less its first `/`), query, and both, each with the character before it. */
function urlParts(value: string): Array<[string, string]> {
  if (!URL.canParse(value)) return [];
  const { pathname, search } = new URL(value);
  const path = pathname.slice(1);
  const query = search.slice(1);
  return [
    [path, '/'],
    [query, '?'],
    [`${path}${search}`, '/'],
  ];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Keys whose values are secrets wherever they appear (headers, configs, error details). */
const secretKey =
  /^(?:.*(?:password|passwd|passphrase|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|dsn|credentials?)|auth|authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token|pass|pwd)$/i;

/** Whether values under `key` are secrets, by name. */
export function isSecretKey(key: string): boolean {
  return secretKey.test(key);
}

/** Any word a secret-named key contains. */
const secretWord =
  /pass|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|dsn|credential|auth|cookie|pwd/i;

/** A JSON line that may hold a secret-named key: worth parsing to scrub. */
const secretKeyInJson =
  /"(?:[^"\\]*(?:password|passwd|passphrase|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|dsn|credentials?)|auth|authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token|pass|pwd)"\s*:/i;

/**
 * A copy of `value` with every field named like a secret masked (strings and objects; numbers
 * and booleans stay, they are counts and switches) and every string passed through
 * `redactSecrets`, at any depth (to 20; cycles are cut). Errors become plain objects; other
 * class instances are left as they are (JSON data and error details are plain objects).
 */
export function scrubSecrets<T>(value: T): T {
  return scrub(value, 0, new WeakSet()) as T;
}

function scrub(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  const plain = proto === Object.prototype || proto === null || Array.isArray(value);
  // Class instances (an SDK's own state riding along) pass as they are; errors do not.
  if (!plain && !(value instanceof Error)) return value;
  if (seen.has(value) || depth > 20) return '[Circular or too deep]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  const keys = new Set(Object.keys(value));
  if (value instanceof Error) for (const k of ['name', 'message', 'stack']) keys.add(k);
  for (const key of keys) {
    const field = (value as Record<string, unknown>)[key];
    out[key] =
      isSecretKey(key) && (typeof field === 'string' || (typeof field === 'object' && field))
        ? redacted
        : scrub(field, depth + 1, seen);
  }
  return out;
}

/**
 * The last pass over a finished JSON log line: secret-named keys at any depth (only when the
 * line has one: parsing every line would cost), then every known secret and URL userinfo.
 */
export function redactLogLine(line: string): string {
  let out = line;
  // The cheap test first (a word, anywhere): most lines have none, and skip the key search.
  if (secretWord.test(out) && secretKeyInJson.test(out)) {
    try {
      const trailing = out.endsWith('\n') ? '\n' : '';
      out = JSON.stringify(scrubSecrets(JSON.parse(out) as unknown)) + trailing;
    } catch {
      // Not one JSON line (pretty output): the text passes below still apply.
    }
  }
  return redactSecrets(out);
}
