import type { Agent } from 'node:http';
import type { Duplex } from 'node:stream';
import { destroyAfter } from './destroy-after.js';
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

/**
 * An HTTP(S) agent for a telemetry exporter whose client offers an agent but no bound on a
 * request as a whole: one socket per request (no keep-alive), each ended `deadlineMs` after it
 * opened, answered or not, and none opened once `close()` has ended those still open. A socket
 * timeout is the idle time only, and a peer that answers a byte at a time is never idle.
 */
export interface DeadlineAgent {
  readonly agent: Agent;
  /** Sockets open now. */
  readonly open: number;
  /** Ends every open socket and refuses new ones. Idempotent. */
  close(): void;
}

type Connect = (
  options: object,
  callback?: (error: Error | null, socket: Duplex) => void,
) => Duplex | null | undefined;

export function createDeadlineAgent(protocol: string, deadlineMs: number): DeadlineAgent {
  const agent =
    protocol === 'https:'
      ? new https.Agent({ keepAlive: false })
      : new http.Agent({ keepAlive: false });
  const sockets = new Set<Duplex>();
  let closed = false;
  const connect = agent.createConnection.bind(agent);
  const createConnection: Connect = (options, callback) => {
    if (closed) {
      callback?.(new Error('the exporter is closed'), undefined as unknown as Duplex);
      return undefined;
    }
    const socket = connect(options, callback);
    if (socket) track(socket);
    return socket;
  };
  const track = (socket: Duplex): void => {
    sockets.add(socket);
    destroyAfter(socket, deadlineMs, `no complete answer within ${deadlineMs} ms`);
    socket.once('close', () => sockets.delete(socket));
  };
  (agent as { createConnection: Connect }).createConnection = createConnection;
  return {
    agent,
    get open() {
      return sockets.size;
    },
    close() {
      closed = true;
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    },
  };
}
