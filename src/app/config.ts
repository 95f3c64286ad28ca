import { z } from 'zod';
import {
  amqp,
  booleanFlag,
  coreConfigSchema,
  coreEnv,
  cronSchedule,
  flag,
  flagEnv,
  flagsSchema,
  integer,
  millis,
  optionalUrl,
  policyEnv,
  secret,
  zmqEndpoint,
} from '../lib/index.js';

/**
 * The sample app's configuration: the core's sections, the integrations it adds (`amqp`), its
 * own `sample` section, its feature flags, and the policy names it calls out through.
 */
export const appConfigSchema = coreConfigSchema
  .extend({
    amqp: amqp.configSchema,
    flags: flagsSchema({
      sampleNotify: booleanFlag('POST each result to sample.notifyUrl'),
    }),
    sample: z.object({
      publishEndpoint: zmqEndpoint(),
      eventIntervalMs: millis(1),
      workMs: integer(0, 60_000).describe('milliseconds of work per event, 0 to 60000'),
      statsSchedule: cronSchedule(),
      faultHooks: flag(),
      notifyUrl: secret(
        optionalUrl(
          ['http', 'https'],
          'empty, or the http(s) URL the notifier POSTs each result to',
        ),
      ),
    }),
  })
  .refine((c) => !c.flags.sampleNotify || c.sample.notifyUrl !== '', {
    path: ['sample', 'notifyUrl'],
    message: 'must be set when flags.sampleNotify is on',
  });

export type AppConfig = z.infer<typeof appConfigSchema>;

export const appEnv = {
  ...coreEnv,
  ...amqp.env,
  ZMQ_PUB_ENDPOINT: 'sample.publishEndpoint',
  SAMPLE_EVENT_INTERVAL_MS: 'sample.eventIntervalMs',
  SAMPLE_WORK_MS: 'sample.workMs',
  SAMPLE_HTTP_URL: 'sample.notifyUrl',
  ...flagEnv(['sampleNotify']),
  ...policyEnv(['sampleHttp']),
  SAMPLE_STATS_SCHEDULE: 'sample.statsSchedule',
  SAMPLE_FAULT_HOOKS: 'sample.faultHooks',
} as const;

export const defaultsFile = new URL('../../../config/default.json', import.meta.url);
