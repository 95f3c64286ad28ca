import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import { routeConsole } from '../../../src/lib/primitives/console-output.js';
import { forgetSecrets, rememberSecret } from '../../../src/lib/primitives/secrets.js';

/** The main thread's console, routed: masked, to the given writers, and still to an inspector. */

test('console output goes to the writers masked, and an attached inspector still sees each call', async (t) => {
  const saved = { ...console };
  t.after(() => {
    Object.assign(console, saved);
    forgetSecrets();
  });
  const session = new Session();
  session.connect();
  t.after(() => session.disconnect());
  const seen: string[] = [];
  session.on('Runtime.consoleAPICalled', (message) => {
    seen.push(`${message.params.type} ${String(message.params.args[0]?.value)}`);
  });
  await session.post('Runtime.enable');
  rememberSecret('tok_Routed42xyz');
  const out: string[] = [];
  const err: string[] = [];
  routeConsole(
    (text) => out.push(text),
    (text) => err.push(text),
  );
  console.log('sent %s to %o', 'tok_Routed42xyz', { n: 1 });
  console.error('failed with tok_Routed42xyz');
  console.table([{ a: 1 }]);
  assert.equal(out[0], 'sent [Redacted] to { n: 1 }\n');
  assert.deepEqual(err, ['failed with [Redacted]\n']);
  assert.match(out.slice(1).join(''), /│ a │/);
  // The inspector's console messages arrive on the session as events of this turn or the next.
  await session.post('Runtime.evaluate', { expression: '1' });
  assert.ok(seen.includes('log sent %s to %o'), JSON.stringify(seen));
  assert.ok(seen.includes('error failed with tok_Routed42xyz'), JSON.stringify(seen));
});
