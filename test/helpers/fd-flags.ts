import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/**
 * Whether a file descriptor of a process (`'self'`: this one) has O_NONBLOCK set: its flags in
 * /proc/PID/fdinfo/FD, octal.
 */
export function isNonBlocking(pid: number | 'self', fd: number): boolean {
  const flags = /^flags:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
  assert.ok(flags !== undefined, `no flags for fd ${fd} of ${pid}`);
  return (Number.parseInt(flags, 8) & 0o4000) !== 0;
}
