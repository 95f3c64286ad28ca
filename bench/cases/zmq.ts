import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import * as zmq from 'zeromq';
import { SocketRegistry } from '../../src/lib/zmq/socket-registry.js';
import { createLogger } from '../../src/lib/primitives/log.js';

import { ratioCase, type Cases } from '../case.js';

/**
 * ZeroMQ throughput from the main thread to another process: the core's socket layer
 * (SocketRegistry + ManagedSocket) against raw zeromq, same socket type (PUSH, so nothing is
 * dropped), same message, same receiving process, alternated in one run.
 */

const sinkScript = fileURLToPath(new URL('../zmq-sink.js', import.meta.url));
const payload = Buffer.alloc(200, 'x');

interface Sender {
  bind(endpoint: string): Promise<string>;
  send(frames: [string, Buffer]): Promise<void>;
  close(): void;
}

async function coreSender(): Promise<Sender> {
  const log = createLogger({
    app: 'bench',
    thread: 'main',
    version: '',
    level: 'fatal',
    destination: new Writable({ write: (_c, _e, d) => d() }),
  });
  const registry = new SocketRegistry({ log, lingerMs: 0 });
  const socket = await registry.open('push', 'bench');
  return {
    bind: (e) => socket.bind(e),
    send: (m) => socket.send(m),
    close: () => registry.closeAll(),
  };
}

function rawSender(): Sender {
  const socket = new zmq.Push({ linger: 0 });
  return {
    bind: async (e) => {
      await socket.bind(e);
      return socket.lastEndpoint ?? e;
    },
    send: (m) => socket.send(m),
    close: () => socket.close(),
  };
}

async function rate(sender: Sender, count: number): Promise<number> {
  const endpoint = await sender.bind('tcp://127.0.0.1:*');
  const sink = spawn(process.execPath, [sinkScript, endpoint, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: sink.stdout });
  const done = new Promise<void>((resolve) => lines.on('line', (l) => l === 'done' && resolve()));
  await new Promise<void>((resolve) => lines.once('line', () => resolve())); // connected
  const started = performance.now();
  for (let i = 0; i < count; i++) await sender.send(['results', payload]);
  await done;
  const seconds = (performance.now() - started) / 1000;
  await once(sink, 'exit');
  sender.close();
  return count / seconds;
}

export async function zmqCases(runs: number, count: number): Promise<Cases> {
  const core: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    raw.push(await rate(rawSender(), count));
    core.push(await rate(await coreSender(), count));
  }
  return {
    zmq_ratio: ratioCase(
      core,
      raw,
      `${count} x 200-byte PUSH messages, main thread to a PULL process, core layer vs raw zeromq`,
    ),
  };
}
