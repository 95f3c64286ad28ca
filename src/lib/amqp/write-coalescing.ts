/**
 * Sends the frames amqplib writes in one pass as one socket write. amqplib's muxer takes the
 * frames its channels have queued and calls `socket.write()` once per frame, and each call is
 * a write(2) of its own: 31,101 of them for 30,000 results. Corking the socket for the length
 * of the pass hands them to the kernel as one writev(2) instead (1,601 for the same run), and
 * the broker reads fewer, fuller segments. Measured with the AMQP bench, this took the
 * service's CPU per message from 109 to 94 µs and the broker's from 200 to 182 µs
 * (docs/amqp.md). Backpressure is unchanged: a write into a full buffer still returns false
 * and the muxer still waits for 'drain'.
 *
 * This reaches into amqplib's internals (the connection's `muxer._readIncoming` and
 * `stream`). When a future amqplib lacks them, nothing is changed and the caller is told, so
 * it can say so; a test fails on the upgrade.
 */

interface Muxer {
  _readIncoming: () => void;
}

interface Corkable {
  cork: () => void;
  uncork: () => void;
}

/** Installs the coalescing on an amqplib Connection; false when its internals are not there. */
export function coalesceWrites(connection: unknown): boolean {
  const { muxer, stream } = (connection ?? {}) as {
    muxer?: Partial<Muxer>;
    stream?: Partial<Corkable>;
  };
  if (
    typeof muxer?._readIncoming !== 'function' ||
    typeof stream?.cork !== 'function' ||
    typeof stream.uncork !== 'function'
  ) {
    return false;
  }
  const pass = muxer._readIncoming.bind(muxer);
  const socket = stream as Corkable;
  muxer._readIncoming = () => {
    socket.cork();
    try {
      pass();
    } finally {
      socket.uncork();
    }
  };
  return true;
}
