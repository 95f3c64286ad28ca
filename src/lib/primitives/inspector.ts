/**
 * The inspector's state, for what must stand down while a debugger may hold the main thread
 * at a breakpoint (the main-stall watchdog, the sentinels) and for the SIGUSR1 handler.
 */

/** The inspector's URL while it is open (`--inspect`, or SIGUSR1 at run time), else undefined. */
export function inspectorUrl(): string | undefined {
  return process.getBuiltinModule('node:inspector').url();
}

/** True while the inspector is open. */
export function isDebuggerOpen(): boolean {
  return inspectorUrl() !== undefined;
}
