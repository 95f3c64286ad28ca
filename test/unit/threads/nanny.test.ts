import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCorrelationId } from '../../../src/lib/correlation.js';
import { ErrorCodes, classify } from '../../../src/lib/errors.js';
import type { EchoContract } from '../../fixtures/workers/echo.worker.js';
import { echo, fixture, nannyHarness } from '../../helpers/nanny-harness.js';

test('a request crosses to a worker thread and back with its correlation id', async (t) => {
  const { nanny } = nannyHarness();
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('echo'));
  await nanny.start();
  const channel = nanny.channel('echo').as<EchoContract>();
  const answer = await withCorrelationId('cid-42', () =>
    channel.request({ op: 'echo', value: { n: 1 } }),
  );
  assert.deepEqual(answer, { value: { n: 1 }, correlationId: 'cid-42', thread: 'echo' });
});

test('linked workers talk to each other over their own channel', async (t) => {
  const { nanny } = nannyHarness();
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('a', ['b'])).add(echo('b'));
  await nanny.start();
  const answer = await nanny
    .channel('a')
    .as<EchoContract>()
    .request({ op: 'relay', to: 'b', value: 7 });
  assert.equal(answer.thread, 'b');
  assert.equal(answer.value, 7);
});

test('an error thrown in a worker arrives in main with the same classification', async (t) => {
  const { nanny } = nannyHarness();
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('echo'));
  await nanny.start();
  const channel = nanny.channel('echo').as<EchoContract>();
  const dependency = await channel.request({ op: 'throw-dependency' }).catch((e: unknown) => e);
  assert.equal(classify(dependency), 'dependency');
  assert.match((dependency as Error).message, /test-db: not reachable/);
  const bug = (await channel.request({ op: 'throw-type' }).then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  )) as Error;
  assert.equal(bug.name, 'TypeError');
  assert.equal(classify(bug), 'unexpected');
  assert.match(String(bug.stack), /echo\.worker/);
});

test('the core refuses to open a ZeroMQ socket in a worker thread', async (t) => {
  const { nanny } = nannyHarness();
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('echo'));
  await nanny.start();
  const refused = (await nanny
    .channel('echo')
    .as<EchoContract>()
    .request({ op: 'open-zmq' })
    .then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    )) as Error;
  assert.equal((refused as { code?: string }).code, ErrorCodes.ZMQ_IN_WORKER);
  assert.match(refused.message, /only be opened in the main thread/);
});

test('a worker that exits is noticed at once and named, and the report lists it missing', async (t) => {
  const { nanny, firstDeath } = nannyHarness({ FAULT: 'worker-exit:victim' });
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('victim')).add(echo('bystander'));
  // On a slow machine the death comes while the bystander starts: start() then rejects.
  await nanny.start().catch(() => undefined);
  const cause = await firstDeath;
  assert.equal((cause as { code?: string }).code, ErrorCodes.WORKER_DIED);
  assert.match(
    cause.message,
    /worker victim ended unexpectedly \((exit code 1|its channel closed)\)/,
  );
  assert.deepEqual(nanny.report().missing, ['victim']);
  assert.equal(nanny.report().alive, 1);
});

test('a worker whose event loop blocks is reported hung and terminated', async (t) => {
  const { nanny, firstDeath, sink } = nannyHarness({
    FAULT: 'worker-hang:sloth',
    HEARTBEAT_MS: '100',
  });
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('sloth'));
  await nanny.start();
  const cause = await firstDeath;
  assert.equal((cause as { code?: string }).code, ErrorCodes.WORKER_HUNG);
  assert.match(cause.message, /worker sloth is hung: no heartbeat for \d+ ms \(heartbeat 100 ms\)/);
  await sink.waitFor((l) => l['msg'] === 'worker exited' && l['worker'] === 'sloth');
});

test('an uncaught error in a worker reaches main through die()', async (t) => {
  const { nanny, firstDeath } = nannyHarness({ FAULT: 'worker-throw:echo' });
  t.after(() => nanny.stopAll(2_000));
  nanny.add(echo('echo'));
  await nanny.start();
  const cause = await firstDeath;
  assert.match(cause.message, /injected error in worker echo/);
  assert.equal((cause as { worker?: string }).worker, 'echo');
});

test('work in hand when shutdown comes is finished before the thread ends', async () => {
  const { nanny, sink } = nannyHarness();
  nanny.add(echo('echo'));
  await nanny.start();
  const slow = nanny.channel('echo').as<EchoContract>().request({ op: 'slow', ms: 300 });
  await nanny.stopAll(5_000);
  assert.deepEqual(await slow, { value: 'slow done' });
  assert.ok(sink.messages().includes('echo worker stopping'));
});

test('log lines a worker writes just before its thread ends are all written', async () => {
  const { nanny, sink, firstDeath } = nannyHarness();
  nanny.add({ name: 'last-words', module: fixture('last-words') });
  await nanny.start();
  await firstDeath; // it returns at once: an unexpected exit
  await nanny.stopAll(5_000);
  const words = sink.lines.filter((l) => l['msg'] === 'last words');
  assert.equal(words.length, 2000);
  assert.equal(words.at(-1)?.['i'], 1999);
  assert.equal(words[0]?.['thread'], 'last-words');
});

test('setLogLevel() switches worker threads to debug at run time', async () => {
  const { nanny, sink } = nannyHarness();
  nanny.add(echo('echo'));
  await nanny.start();
  nanny.setLogLevel('debug');
  await nanny.stopAll(5_000);
  assert.ok(
    sink.lines.some(
      (l) => l['thread'] === 'echo' && l['level'] === 'debug' && l['msg'] === 'shutdown received',
    ),
  );
});
