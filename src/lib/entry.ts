/**
 * The public door of an app's entry module (`src/app/main.ts`), kept apart from `index.ts`
 * because it must load in a few milliseconds: the stop-signal handlers are installed before
 * the rest of the core and the app load, so a TERM at any moment of start-up is a requested
 * stop, not a kill. Import nothing else from the entry module.
 */
export { installEarlySignalHandlers } from './lifecycle/early-signals.js';
