import { execFile } from 'node:child_process';

/** What a finished program left: its exit code (-1 if it had none) and its output. */
export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to the end without a shell; resolves (never rejects) with its exit code and
 * output, so a test can assert on a failure. Killed after `timeoutMs`.
 */
export function runFile(
  file: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
