import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * amqplib decodes a header table recursively, one call a level, in its socket's read loop: a
 * message whose headers nest some 3,500 tables deep (25 KB, well within a frame) overflowed the
 * stack there, amqplib took it for a frame error and closed the connection. The service exited
 * 69 at once, and again at every delivery after a restart, until the broker's delivery limit
 * dead-lettered the message, and every message in hand with it, without a reason (a review
 * helper's finding on the real broker; amqplib 2.3.1).
 *
 * The guard wraps amqplib's `decodeFields` where its protocol module takes it: a table that
 * overflows the stack reads as one header, `x-undecodable-headers`, holding the table's bytes as
 * they came (a byte array, which a copy carries on: nothing is lost). The message then goes
 * through the pipeline like any other, its handler's verdict deciding where it ends.
 */

/** The header a table too deep to decode becomes: its encoded bytes. */
export const undecodableHeadersHeader = 'x-undecodable-headers';

type Decode = (slice: Buffer) => Record<string, unknown>;

/** True for V8's stack overflow. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && error.message.includes('Maximum call stack size');
}

/** `decode`, but a table that overflows the stack comes back as its bytes (see above). */
export function guardedDecode(decode: Decode): Decode {
  return (slice) => {
    try {
      return decode(slice);
    } catch (error) {
      if (!isStackOverflow(error)) throw error;
      return { [undecodableHeadersHeader]: Buffer.from(slice) };
    }
  };
}

let installed = false;

/**
 * Installs the guard in amqplib's codec, before its protocol module (`defs.js`) reads
 * `decodeFields` from it: call before amqplib is first imported. False when amqplib was loaded
 * before (another module of the process imported it first): the guard cannot take then, and
 * the caller says so.
 */
export function installDecoderGuard(): boolean {
  if (installed) return true;
  const require = createRequire(import.meta.url);
  // amqplib's `exports` hides lib/: its files are reached by their paths.
  const lib = join(dirname(require.resolve('amqplib')), 'lib');
  if (require.cache[require.resolve(join(lib, 'defs.js'))] !== undefined) return false;
  const codec = require(join(lib, 'codec.js')) as { decodeFields: Decode };
  codec.decodeFields = guardedDecode(codec.decodeFields);
  installed = true;
  return true;
}
