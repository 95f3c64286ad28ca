/**
 * Environment variables that look like a misspelling of one the service reads: set, yet read
 * by nothing, so the setting meant does not apply and nothing says so (`AMQP_PREFECTH=10` left
 * the prefetch at its default, without a word). A name is suspect when, upper-cased, it is a
 * known name (`amqp_url`), or when it is within two edits (a character inserted, dropped,
 * replaced, or two neighbours swapped) of a known name of at least 8 characters (one edit
 * under 12: two edits from INFLUX_ORG is Kubernetes' INFLUX_PORT, from SENTRY_DSN the Sentry
 * SDK's SENTRY_DIST, from APP_NAME an image's APP_HOME), or is a known
 * name without its unit (`SHUTDOWN_DEADLINE` for `SHUTDOWN_DEADLINE_MS`); a `NAME_FILE` is
 * compared by its NAME, and a known NAME with its `_FILE` within two edits (`AMQP_URL_FIEL`)
 * is that NAME_FILE. Names only: no value is read. The environment is shared with other
 * programs (the container kit's own variables, Node's, the OpenTelemetry SDK's), so a suspect
 * is a warning, not a config error.
 */

/** The known names edits are measured against are at least this long: short ones match noise. */
const minLengthForEdits = 8;
const maxEdits = 2;
/** Names shorter than this are allowed one edit, not two. */
const minLengthForTwoEdits = 12;

export interface MisspelledVariable {
  /** The variable set, which nothing reads. */
  variable: string;
  /** The known variable it is closest to. */
  meant: string;
}

export function misspelledVariables(
  names: Iterable<string>,
  known: Iterable<string>,
): MisspelledVariable[] {
  const knownNames = [...known];
  const knownSet = new Set(knownNames.flatMap((name) => [name, `${name}_FILE`]));
  const found: MisspelledVariable[] = [];
  for (const variable of names) {
    if (knownSet.has(variable)) continue;
    const upper = variable.toUpperCase();
    if (knownSet.has(upper)) {
      found.push({ variable, meant: upper });
      continue;
    }
    const file = upper.endsWith('_FILE');
    const stem = file ? upper.slice(0, -'_FILE'.length) : upper;
    const unit = ['_MS', '_S', '_MB'].find((suffix) => knownSet.has(`${stem}${suffix}`));
    if (unit !== undefined) {
      found.push({ variable, meant: `${stem}${unit}${file ? '_FILE' : ''}` });
      continue;
    }
    // A known name with its _FILE misspelled (AMQP_URL_FIEL, INFLUX_TOKEN_FIL): whole, it is
    // too far from both the name and the name's _FILE form for the edits below to see it, so a
    // secret mount did nothing without a word.
    const cut = upper.lastIndexOf('_');
    const named = upper.slice(0, cut);
    if (!file && cut > 0 && knownNames.includes(named)) {
      if (editDistance(upper.slice(cut + 1), 'FILE', maxEdits) <= maxEdits) {
        found.push({ variable, meant: `${named}_FILE` });
        continue;
      }
    }
    let best: { meant: string; edits: number } | undefined;
    for (const name of knownNames) {
      if (name.length < minLengthForEdits || Math.abs(name.length - stem.length) > maxEdits) {
        continue;
      }
      const allowed = name.length < minLengthForTwoEdits ? 1 : maxEdits;
      const edits = editDistance(stem, name, allowed);
      if (edits <= allowed && (best === undefined || edits < best.edits))
        best = { meant: name, edits };
    }
    if (best !== undefined)
      found.push({ variable, meant: file ? `${best.meant}_FILE` : best.meant });
  }
  return found;
}

/**
 * The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
 * substitutions and swaps of neighbours), or `limit + 1` once it is sure to exceed `limit`.
 * Only the cells within `limit` of the diagonal are computed (any path through another cell
 * costs more than `limit`), in three rows reused: a few hundred steps for two variable names.
 */
function editDistance(a: string, b: string, limit: number): number {
  const over = limit + 1;
  const width = b.length + 1;
  if (rows[0].length < width)
    rows = [new Int32Array(width), new Int32Array(width), new Int32Array(width)];
  let [before, previous, current] = rows;
  before.fill(over, 0, width);
  for (let j = 0; j < width; j++) previous[j] = j <= limit ? j : over;
  for (let i = 1; i <= a.length; i++) {
    current.fill(over, 0, width);
    if (i <= limit) current[0] = i;
    let rowMin = over;
    const last = Math.min(b.length, i + limit);
    for (let j = Math.max(1, i - limit); j <= last; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let d = Math.min(
        (previous[j] ?? over) + 1,
        (current[j - 1] ?? over) + 1,
        (previous[j - 1] ?? over) + cost,
      );
      if (
        i > 1 &&
        j > 1 &&
        a.charCodeAt(i - 1) === b.charCodeAt(j - 2) &&
        a.charCodeAt(i - 2) === b.charCodeAt(j - 1)
      ) {
        d = Math.min(d, (before[j - 2] ?? over) + 1);
      }
      current[j] = Math.min(d, over);
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > limit) return over;
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length] ?? over;
}

/** The rows `editDistance` works in, grown to the longest name met. */
let rows: [Int32Array, Int32Array, Int32Array] = [
  new Int32Array(64),
  new Int32Array(64),
  new Int32Array(64),
];

/**
 * Variables under a prefix the core reads by pattern (`FLAG_<NAME>`, `POLICY_<NAME>_<FIELD>`)
 * that the env map has no entry for: a flag or policy the config does not declare, or a fork
 * whose env map left out `flagEnv`/`policyEnv`. Such a variable looks meant for this service
 * and applies nothing. `NAME_FILE` forms count as their NAME; names only, no value is read.
 */
export function unreadPrefixedVariables(
  names: Iterable<string>,
  known: Iterable<string>,
  prefixes: readonly string[],
): string[] {
  const knownSet = new Set([...known].flatMap((name) => [name, `${name}_FILE`]));
  return [...names].filter(
    (name) =>
      !knownSet.has(name) &&
      !kubernetesServiceLink.test(name) &&
      prefixes.some((prefix) => name.startsWith(prefix)),
  );
}

/**
 * The variables Kubernetes puts in every pod for each Service (`POLICY_ENGINE_SERVICE_HOST`,
 * `..._PORT_8080_TCP_ADDR` for a Service named policy-engine): not meant for this service.
 */
const kubernetesServiceLink =
  /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO)?)?)$/;
