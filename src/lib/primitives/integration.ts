import type { z } from 'zod';
import type { EnvMap } from './config.js';

/**
 * The shape of an integration an app adds to its service (AMQP is one; a fork's next one
 * follows it): a config section the app puts under its own key, that section's environment
 * variables, and `start`, which loads the integration's client library only when called.
 *
 * ```ts
 * const schema = coreConfigSchema.extend({ amqp: amqp.configSchema });
 * const env = { ...coreEnv, ...amqp.env };
 * // in setUp(ctx), when ctx.config.amqp.url is set:
 * const intake = await amqp.start(ctx, { createHandler });
 * ```
 */
export interface Integration<Section extends z.ZodType, Host, Options, Started> {
  /** The config section, validated with the rest of the config. */
  readonly configSchema: Section;
  /** Environment variable -> config path, with the section's key as the first part. */
  readonly env: EnvMap;
  /** Starts the integration with what it needs of the service (a ServiceContext fits). */
  readonly start: (host: Host, options: Options) => Promise<Started>;
}
