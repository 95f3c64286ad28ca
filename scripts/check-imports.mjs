// Checks the module boundaries over the TypeScript sources of src/ (type-only imports count):
// - src/lib never imports src/app, and src/app reaches src/lib only through its public doors;
// - no import cycle anywhere in src/;
// - the layers of src/lib: primitives (0) < areas (1) < runtime (2) < doors (3). Every import
//   that climbs from a lower layer to a higher one is listed; more than `maxClimbs` fails.
// Prints each offence and the counts; exit 1 on any failure.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const maxClimbs = 3;
const root = resolve(import.meta.dirname, '..', 'src');
const doors = new Set(['lib/index.ts', 'lib/worker.ts', 'lib/entry.ts']);
const areas = ['lifecycle', 'threads', 'zmq', 'amqp', 'telemetry', 'resilience'];
const areaFiles = new Set(['lib/flags.ts', 'lib/health.ts', 'lib/schedule.ts', 'lib/schedule-times.ts']);
const layerNames = ['primitives', 'areas', 'runtime', 'doors'];

/** The layer of a module under src/lib; undefined for a module the layers do not name. */
function layerOf(rel) {
  if (doors.has(rel)) return 3;
  if (rel.startsWith('lib/runtime/')) return 2;
  if (areaFiles.has(rel) || areas.some((a) => rel.startsWith(`lib/${a}/`))) return 1;
  if (rel.startsWith('lib/primitives/')) return 0;
  return undefined;
}

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.push(path);
  }
})(root);

// Static imports and re-exports (`import type` included), side-effect imports, dynamic
// imports and `import('./x.js').Type` type queries; relative specifiers only.
const importRe =
  /^\s*(?:import|export)\s[^'";]*?from\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gm;
/** Comments can quote imports; drop them (a crude strip that keeps strings such as URLs). */
const stripComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

const graph = new Map();
const problems = [];
const climbs = [];
for (const file of files) {
  const rel = relative(root, file);
  const deps = [];
  for (const m of stripComments(readFileSync(file, 'utf8')).matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    deps.push(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
  }
  graph.set(file, deps);
  for (const dep of deps) {
    const to = relative(root, dep);
    if (rel.startsWith('lib/') && to.startsWith('app/')) {
      problems.push(`${rel} imports ${to}: src/lib never imports src/app`);
    }
    if (rel.startsWith('app/') && to.startsWith('lib/') && !doors.has(to)) {
      problems.push(`${rel} imports ${to}: src/app reaches src/lib only through ${[...doors].join(', ')}`);
    }
    const from = layerOf(rel);
    const into = layerOf(to);
    if (from !== undefined && into !== undefined && into > from) {
      climbs.push(`${rel} (${layerNames[from]}) imports ${to} (${layerNames[into]})`);
    }
  }
}
if (climbs.length > maxClimbs) {
  problems.push(`${climbs.length} imports climb from a lower layer to a higher one (at most ${maxClimbs})`);
}

const state = new Map();
const stack = [];
function visit(node) {
  state.set(node, 'open');
  stack.push(node);
  for (const dep of graph.get(node) ?? []) {
    if (!graph.has(dep)) continue;
    if (state.get(dep) === 'open') {
      const cycle = stack.slice(stack.indexOf(dep)).concat(dep).map((f) => relative(root, f));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(node, 'done');
}
for (const file of files) if (!state.has(file)) visit(file);

for (const c of climbs) console.log(`climbs: ${c}`);
for (const p of problems) console.error(p);
console.log(
  `check-imports: ${files.length} modules, ${climbs.length} imports climbing layers (at most ${maxClimbs}), ${problems.length} problems`,
);
process.exit(problems.length === 0 ? 0 : 1);
