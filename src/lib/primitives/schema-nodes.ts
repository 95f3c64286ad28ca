/**
 * Walking a zod schema by key path: what the config loader needs to name a key's
 * description and to find the marks (secret, not secret) a fork put on its leaves.
 */

import type { z } from 'zod';

/** A zod schema's definition object (`_zod.def`); undefined for anything else. */
export function definitionOf(node: unknown): Record<PropertyKey, unknown> | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const def = (node as { _zod?: { def?: unknown } })._zod?.def;
  return typeof def === 'object' && def !== null
    ? (def as Record<PropertyKey, unknown>)
    : undefined;
}

/**
 * The schema node at `path` and the nodes it wraps (refinements, preprocessing, defaults),
 * outermost first; empty when the schema has no such key.
 */
export function nodesAt(schema: z.ZodType, path: readonly PropertyKey[]): unknown[] {
  let node: unknown = schema;
  let chain: unknown[] = [];
  const unwrap = (): void => {
    chain = [];
    for (let i = 0; i < 10 && node !== undefined; i++) {
      chain.push(node);
      const def = definitionOf(node);
      // A union's options are all its nodes: a secret among them makes the leaf one.
      const options = def?.['options'];
      if (Array.isArray(options)) {
        for (const option of options as unknown[]) {
          const inner = definitionOf(option)?.['innerType'];
          chain.push(option, ...(inner === undefined ? [] : [inner]));
        }
      }
      const inner = def?.['innerType'] ?? def?.['out'] ?? def?.['schema'];
      if (inner === undefined) return;
      node = inner;
    }
  };
  unwrap();
  for (const key of path) {
    const shape = (node as { shape?: Record<PropertyKey, unknown> }).shape;
    const def = definitionOf(node);
    // catchall: a record-like section (policies); valueType: a z.record's values; element: a
    // list's (its index is the key); items: a tuple's.
    const items = def?.['items'];
    node =
      shape?.[key] ??
      def?.['catchall'] ??
      def?.['valueType'] ??
      def?.['element'] ??
      (Array.isArray(items) ? (items as unknown[])[Number(key)] : undefined);
    if (node === undefined) return [];
    unwrap();
  }
  return chain;
}

/** The `.describe()` text of the schema node at `path`, looking through wrappers. */
export function describeAt(schema: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  let found: string | undefined;
  for (const node of nodesAt(schema, path)) {
    found = (node as { description?: string }).description ?? found;
  }
  return found;
}
