import { z } from 'zod';
import { flag, upperSnake } from './primitives/config-fields.js';

/**
 * Feature flags: named booleans or variants in the `flags` config section, with defaults in
 * config/default.json and an override per flag from the environment, `FLAG_<NAME>` in upper
 * snake case (`FLAG_SAMPLE_NOTIFY=false` sets `flags.sampleNotify`). They are part of the
 * frozen config, so they are validated at start-up (a bad value is a ConfigError naming the
 * flag and its variable), logged in the `starting` line, travel to worker threads with the
 * config, and change only with a restart. Code reads them through `readFlags(config)`.
 */

/** Any flags section: what the core knows without the app's declarations. */
export const anyFlagsSchema = z
  .record(z.string(), z.union([z.boolean(), z.string()]))
  .describe('flag names mapped to true, false or a variant name');

export type FlagValues = Readonly<Record<string, boolean | string>>;

/** An on/off flag; from the environment true/false, 1/0, yes/no, on/off. */
export function booleanFlag(description: string) {
  return flag().describe(`true or false (${description})`);
}

/** A flag that picks one of `variants`. */
export function variantFlag<const V extends readonly [string, ...string[]]>(
  variants: V,
  description: string,
) {
  return z.enum(variants).describe(`one of ${variants.join(', ')} (${description})`);
}

/** The schema of an app's flags section: exactly the declared flags, no others. */
export function flagsSchema<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape).strict();
}

/** The environment variables of the named flags: `FLAG_<NAME>` -> `flags.<name>`. */
export function flagEnv(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [`FLAG_${upperSnake(name)}`, `flags.${name}`]));
}

type BooleanKeys<T> = { [K in keyof T]: T[K] extends boolean ? K : never }[keyof T] & string;
type VariantKeys<T> = { [K in keyof T]: T[K] extends string ? K : never }[keyof T] & string;

/** Typed, read-only access to the flags of one config. */
export class Flags<T extends FlagValues> {
  readonly #values: T;

  constructor(values: T) {
    this.#values = values;
  }

  /** True when the boolean flag `name` is on. */
  isEnabled(name: BooleanKeys<T>): boolean {
    return this.#values[name] === true;
  }

  /** The variant chosen for flag `name`. */
  variant<K extends VariantKeys<T>>(name: K): T[K] {
    return this.#values[name];
  }

  /** Every flag and its value, for the start-up line. */
  toJSON(): T {
    return this.#values;
  }
}

/** The flags of a loaded config (main thread or worker: the config travels with them). */
export function readFlags<T extends FlagValues>(config: { readonly flags: T }): Flags<T> {
  return new Flags(config.flags);
}
