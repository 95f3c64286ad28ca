import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFaults } from '../../../src/lib/lifecycle/faults.js';
import { testConfig } from '../../helpers/core.js';

test('FAULT takes crash-on:TEXT and hang-on:TEXT, alone or in a comma-separated list', () => {
  assert.deepEqual(parseFaults(''), []);
  assert.deepEqual(parseFaults('crash-on:POISON PILL'), [
    { kind: 'crash-on', text: 'POISON PILL' },
  ]);
  assert.deepEqual(parseFaults('hang-on:x:y,worker-exit:tally'), [
    { kind: 'hang-on', text: 'x:y' },
    { kind: 'worker-exit', worker: 'tally' },
  ]);
  assert.throws(() => parseFaults('crash-on:'), /unknown fault/);
  assert.equal(
    testConfig({ FAULT: 'crash-on:pill,hang-on:stuck' }).fault,
    'crash-on:pill,hang-on:stuck',
  );
  assert.throws(() => testConfig({ FAULT: 'crash-on:pill,' }), /FAULT/);
  assert.throws(() => testConfig({ FAULT: 'crash-on' }), /FAULT/);
});
