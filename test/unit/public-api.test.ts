import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../helpers/service-process.js';
import { doorListings, readReadme, section } from '../helpers/readme.js';

/**
 * The README's public API list is the contract a fork codes against: every name it lists is
 * exported by its door, and a door exports nothing it leaves out (types included). The doors
 * are read from their TypeScript sources (a parse, not a type check: fast).
 */

/** The names a module exports, following `export * from` into the modules it names. */
function exportedNames(file: string): Set<string> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const names = new Set<string>();
  const hasExport = (node: ts.Node): boolean =>
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (clause === undefined) {
        const from = (statement.moduleSpecifier as ts.StringLiteral).text;
        const target = resolve(dirname(file), from.replace(/\.js$/, '.ts'));
        for (const name of exportedNames(target)) names.add(name);
      } else if (ts.isNamedExports(clause)) {
        for (const element of clause.elements) names.add(element.name.text);
      } else names.add(clause.name.text);
    } else if (ts.isVariableStatement(statement) && hasExport(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        names.add((declaration.name as ts.Identifier).text);
      }
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      hasExport(statement) &&
      statement.name !== undefined
    ) {
      names.add(statement.name.text);
    } else if (ts.isExportAssignment(statement)) names.add('default');
  }
  return names;
}

const listings = doorListings(section(section(readReadme(), '## Forking'), '### The public API'));
const listed = (door: string): string[] => listings.find((l) => l.door === door)?.names ?? [];

test('the README lists the three doors, each name once', () => {
  assert.deepEqual(listings.map((l) => l.door).sort(), [
    'src/lib/entry.js',
    'src/lib/index.js',
    'src/lib/worker.js',
  ]);
  const all = listings.flatMap((l) => l.names);
  assert.deepEqual(
    all.filter((name, i) => all.indexOf(name) !== i),
    [],
    'listed twice',
  );
});

for (const { door, alsoListedUnder } of [
  { door: 'src/lib/entry.js', alsoListedUnder: [] },
  { door: 'src/lib/worker.js', alsoListedUnder: [] },
  // index.js re-exports worker.js; the README lists only what it adds.
  { door: 'src/lib/index.js', alsoListedUnder: ['src/lib/worker.js'] },
]) {
  test(`${door} exports exactly what the README lists under it`, () => {
    const exported = exportedNames(`${repoRoot}/${door.replace(/\.js$/, '.ts')}`);
    const promised = new Set([door, ...alsoListedUnder].flatMap(listed));
    assert.ok(exported.size > 0, `${door} exports nothing: is the path right?`);
    const missing = [...promised].filter((name) => !exported.has(name)).sort();
    const unlisted = [...exported].filter((name) => !promised.has(name)).sort();
    assert.deepEqual(
      { missing, unlisted },
      { missing: [], unlisted: [] },
      `README's Forking section, "The public API", against ${door}: 'missing' are listed but not exported, 'unlisted' are exported but not listed`,
    );
  });
}
