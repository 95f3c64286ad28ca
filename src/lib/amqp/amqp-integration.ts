import type { Integration } from '../primitives/integration.js';
import { amqpConfigSchema, amqpEnv } from './amqp-config.js';
import type { AmqpHost } from './amqp-host.js';
import type { AmqpPipeline, StartAmqpOptions } from './start-amqp.js';

/**
 * RabbitMQ as an integration the app adds (see Integration): the `amqp` config section and
 * its `AMQP_*` variables, and `start`, which loads the AMQP modules and amqplib on first use,
 * so a service without a broker never loads them (docs/performance.md, start-up).
 */
export const amqp: Integration<typeof amqpConfigSchema, AmqpHost, StartAmqpOptions, AmqpPipeline> =
  {
    configSchema: amqpConfigSchema,
    env: amqpEnv,
    start: async (host, options) => {
      const { startAmqp } = await import('./start-amqp.js');
      return startAmqp(host, options);
    },
  };
