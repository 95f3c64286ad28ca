import { execFileSync } from 'node:child_process';
import * as amqp from 'amqplib';
import { brokerHost } from '../test/helpers/broker.js';
import { brokerPid } from './proc.js';

/**
 * What each bench group needs that `scripts/test-prereqs.sh` cannot install, checked before the
 * group runs: each check resolves with null when all is there, else with the reason, so the
 * bench can say why a case cannot run instead of failing halfway with a stack trace.
 */

/** Null when `program` is on PATH, else the reason. */
export function program(name: string, hint: string): string | null {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return null;
  } catch {
    return `${name} is not on PATH (${hint})`;
  }
}

/**
 * Null when RabbitMQ answers on 127.0.0.1:5672 as guest, rabbitmqctl can make vhosts, and the
 * broker is a process on this machine (its CPU time is read from /proc); else the reason.
 */
export async function localBroker(): Promise<string | null> {
  const missing = program('rabbitmqctl', 'the AMQP cases make a vhost per run with it');
  if (missing !== null) return missing;
  try {
    const connection = await amqp.connect(brokerHost, { timeout: 5000 });
    await connection.close();
  } catch (error) {
    return `RabbitMQ does not answer at 127.0.0.1:5672 as guest: ${reason(error)}`;
  }
  try {
    brokerPid();
    return null;
  } catch (error) {
    return reason(error);
  }
}

/** An error as a short text: its message and its causes', never a stack. */
export function reason(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && e !== null && parts.length < 4;) {
    if (e instanceof Error) {
      // Up to the first blank line: a command's usage text after it says nothing new.
      parts.push(e.message.split(/\n\s*\n/)[0] ?? e.message);
      e = e.cause;
    } else {
      parts.push(typeof e === 'string' ? e : JSON.stringify(e));
      break;
    }
  }
  return parts.join(': ');
}
