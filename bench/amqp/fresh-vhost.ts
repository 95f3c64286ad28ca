import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import {
  brokerHost,
  createVhost,
  rabbitmqctl,
  waitForBroker,
  type TestVhost,
} from '../../test/helpers/broker.js';
import { brokerPid } from '../proc.js';
import { reason } from '../prereqs.js';

/**
 * Every AMQP bench run happens on a vhost of its own, removed after, so no run sees another's
 * messages. On a shared machine other people's tests stop and restart the broker: a run that
 * fails because the broker went away waits for it to come back and runs again (at most
 * `attempts` times in all), saying so on stderr; any other failure fails the run.
 */

const brokerGone =
  /ECONNREFUSED|ECONNRESET|CONNECTION_FORCED|Connection closed|Socket closed|'rabbit' app|broker not back/;

async function brokerAnswers(): Promise<boolean> {
  try {
    const connection = await amqp.connect(brokerHost, { timeout: 3000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** Deletes the vhost, trying again while the broker is starting; says so if it cannot. */
async function removeQuietly(vhost: TestVhost | undefined): Promise<void> {
  if (vhost === undefined) return;
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      // Not vhost.remove(): after one failed attempt it would not try again.
      await rabbitmqctl('delete_vhost', vhost.name);
      return;
    } catch (error) {
      if (/not_found|does not exist/i.test(reason(error))) return;
      if (attempt === 5)
        process.stderr.write(`bench: could not delete vhost ${vhost.name}: ${reason(error)}\n`);
      else await delay(2000);
    }
  }
}

/**
 * Runs `run` on a fresh vhost (prefix `prefix`) with the broker's current pid, and removes the
 * vhost after. Resolves with the run's result; rejects with its error, after `attempts`
 * broker outages, or when a run takes longer than `runTimeoutMs` (a hung run fails the group).
 */
export async function onFreshVhost<T>(
  prefix: string,
  run: (vhost: TestVhost, broker: number) => Promise<T>,
  attempts = 3,
  runTimeoutMs = 900_000,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let vhost: TestVhost | undefined;
    try {
      vhost = await createVhost(prefix);
      const watchdog = new AbortController();
      const result = await Promise.race([
        run(vhost, brokerPid()),
        delay(runTimeoutMs, undefined, { signal: watchdog.signal }).then(() => {
          throw new Error(`the run did not finish within ${runTimeoutMs / 1000} s`);
        }),
      ]).finally(() => watchdog.abort());
      await vhost.remove();
      return result;
    } catch (error) {
      const gone = brokerGone.test(reason(error)) || !(await brokerAnswers());
      if (!gone || attempt >= attempts) {
        await removeQuietly(vhost);
        throw error;
      }
      process.stderr.write(
        `bench: the broker went away during a run (${reason(error).split('\n')[0] ?? ''}); waiting for it, then running again\n`,
      );
      await waitForBroker(300_000);
      await removeQuietly(vhost);
    }
  }
}
