// Checks the module boundaries over the compiled JavaScript: src/lib never imports src/app,
// and no import cycles anywhere in src/. Prints each offence; exit 1 if any.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', 'dist', 'src');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.js')) files.push(path);
  }
})(root);

const importRe = /^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gm;
const graph = new Map();
const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [];
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    deps.push(resolve(dirname(file), spec));
  }
  graph.set(file, deps);
  const rel = relative(root, file);
  if (rel.startsWith('lib/')) {
    for (const dep of deps) {
      if (relative(root, dep).startsWith('app/')) problems.push(`${rel} imports ${relative(root, dep)}: src/lib never imports src/app`);
    }
  }
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
for (const p of problems) console.error(p);
console.log(`check-imports: ${files.length} modules, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
