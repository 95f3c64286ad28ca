import { AmqpClient } from '../../src/lib/amqp/amqp-client.js';
import type { Logger } from '../../src/lib/primitives/log.js';
import { captureLog } from './capture-log.js';

/**
 * The code under test's own AMQP client, connected to `url` for a test: the settings every
 * such test uses (heartbeat 30 s, connect timeout 5 s), a log at info, and `onLost` for the
 * tests that watch the connection go. The caller closes it.
 */
export async function connectedClient(
  url: string,
  connectionName: string,
  options: { onLost?: (error: unknown) => void; log?: Logger } = {},
): Promise<AmqpClient> {
  const client = new AmqpClient({
    url,
    connectionName,
    heartbeatS: 30,
    connectTimeoutMs: 5_000,
    log: options.log ?? captureLog('info').log,
    onLost: options.onLost ?? (() => undefined),
  });
  await client.connect(new AbortController().signal);
  return client;
}
