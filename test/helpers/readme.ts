import { readFileSync } from 'node:fs';
import { repoRoot } from './service-process.js';

/**
 * Reads what the README's Forking section promises, so the tests check the README itself and
 * it cannot drift from what works: the minimal app (its code blocks, each labelled with its
 * file path) and the public API (the names listed under each door).
 */

/** One labelled code block of the minimal app. */
export interface AppFile {
  /** Relative to the project root, as the label gives it: `src/app/main.ts`. */
  path: string;
  text: string;
}

/** A door of the public API and the names the README lists under it. */
export interface DoorListing {
  /** `src/lib/index.js`, as the README names it. */
  door: string;
  names: string[];
}

export function readReadme(root = repoRoot): string {
  return readFileSync(`${root}/README.md`, 'utf8');
}

/** The text of the `## title` section (up to the next `## `), or of a `### title` in it. */
export function section(markdown: string, heading: string): string {
  const level = /^#+/.exec(heading)?.[0] ?? '';
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line === heading);
  if (start === -1) throw new Error(`the README has no heading '${heading}'`);
  let end = lines.length;
  let inCode = false; // a `# comment` in a code block is no heading
  for (let i = start + 1; i < lines.length && end === lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) inCode = !inCode;
    else if (!inCode && /^#+ /.test(line) && line.indexOf(' ') <= level.length) end = i;
  }
  return lines.slice(start + 1, end).join('\n');
}

/**
 * The minimal app's files: every fenced code block whose last non-blank line before it is a
 * label, a line that starts with a file path in backticks and ends with a colon
 * (`` `src/app/main.ts`: ``, or `` `config/default.json`, the app's section: ``). Other
 * blocks (indented ones included) are examples, not files.
 */
export function appFiles(forking: string): AppFile[] {
  const files: AppFile[] = [];
  const lines = forking.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('```') || lines[i] === '```') continue;
    const before = lines.slice(0, i).findLast((line) => line.trim() !== '') ?? '';
    const label = /^`([\w.-]+(?:\/[\w.-]+)+)`[^`]*:$/.exec(before);
    const close = lines.indexOf('```', i + 1);
    if (close === -1) throw new Error(`the code block at line ${i + 1} is not closed`);
    if (label !== null)
      files.push({ path: label[1]!, text: lines.slice(i + 1, close).join('\n') + '\n' });
    i = close;
  }
  return files;
}

/**
 * The public API as listed: under each door's line (`` **`src/lib/worker.js`** ... ``), the
 * first backticked name of every list item (`` - `runWorker(body)`: ... `` gives `runWorker`).
 */
export function doorListings(api: string): DoorListing[] {
  const doors: DoorListing[] = [];
  for (const line of api.split('\n')) {
    const door = /^\*\*`(src\/lib\/[\w-]+\.js)`\*\*/.exec(line);
    if (door !== null) {
      doors.push({ door: door[1]!, names: [] });
      continue;
    }
    const item = /^- `([A-Za-z_$][\w$]*)/.exec(line);
    if (item !== null) {
      const current = doors.at(-1);
      if (current === undefined) throw new Error(`'${line}' is listed before any door`);
      current.names.push(item[1]!);
    }
  }
  return doors;
}
