import { installEarlySignalHandlers } from '../lib/entry.js';

/**
 * The entry point (`node dist/src/app/main.js`, as supervisord, the image and `npm start` run
 * it): installs the stop-signal handlers before anything else loads, then loads the
 * composition root, so a TERM at any moment of start-up is a requested stop, not a kill.
 * Keep this file this small: everything it imports statically loads before the handlers.
 */
installEarlySignalHandlers();
await import('./service.js');
