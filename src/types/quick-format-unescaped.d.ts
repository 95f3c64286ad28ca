// quick-format-unescaped ships no types: pino's printf-style formatter, as pino calls it.
declare module 'quick-format-unescaped' {
  export default function format(f: unknown, args: unknown[], opts?: unknown): unknown;
}
