import { redactSecrets } from './secrets.js';
const { Console } = process.getBuiltinModule('node:console');
const { Writable } = process.getBuiltinModule('node:stream');

/**
 * Where `console` writes in the main thread: what a fork's `console.log` (or a library's)
 * prints goes to `stdout` (the log sink, in order with the log lines, as a worker thread's
 * output does) and `console.error`'s to `stderr`, each passing `redactSecrets` first. It went to
 * `process.stdout` as it was: a secret printed whole, and `process.stdout` made for a pipe sets
 * O_NONBLOCK on fd 1 for every writer of the pipe. Colours are off (the output is a log). What
 * an attached inspector shows is the call's own arguments, unmasked, as in any debugger.
 */
export function routeConsole(stdout: (text: string) => void, stderr: (text: string) => void): void {
  const routed = new Console({
    stdout: redacting(stdout),
    stderr: redacting(stderr),
    colorMode: false,
  });
  // A Console's methods are its own, bound to it: they replace the global console's, each
  // still telling an attached inspector (DevTools, --inspect) as Node's own console does.
  const target = console as unknown as Record<string, unknown>;
  const inspectorConsole = process.getBuiltinModule('node:inspector').console as unknown as Record<
    string,
    ((...args: unknown[]) => void) | undefined
  >;
  for (const [name, method] of Object.entries(routed)) {
    if (typeof method !== 'function') continue;
    const toInspector = inspectorConsole[name];
    target[name] =
      toInspector === undefined
        ? method
        : (...args: unknown[]) => {
            toInspector(...args);
            (method as (...args: unknown[]) => void)(...args);
          };
  }
}

/** A stream that writes each chunk through `write`, secrets masked, synchronously. */
function redacting(write: (text: string) => void): NodeJS.WritableStream {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      try {
        write(redactSecrets(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}

/** Forwards a worker thread's output chunk, secrets masked (its `console`, Node's warnings). */
export function redactedOutput(write: (text: string) => void): (text: string) => void {
  return (text) => write(redactSecrets(text));
}
