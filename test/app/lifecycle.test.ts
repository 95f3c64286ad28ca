import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, sampleEnv, type LogLine } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The sample app's own start and stop: its workers, its shutdown steps among the core's, and
 * its stats worker hearing of every event. (The core's lifecycle: test/process/lifecycle.)
 */

const byMsg = (msg: string) => (l: LogLine) => l.msg === msg;

test("the sample's workers start, and TERM runs its steps among the core's, in order", async (t) => {
  const service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({ SAMPLE_WORK_MS: '300', SAMPLE_EVENT_INTERVAL_MS: '100' }),
  });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready', 20_000);
  assert.deepEqual(ready['workers'], ['processor', 'stats', 'producer']);
  await service.waitFor('event processed', 15_000);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  const steps = service.lines.filter(byMsg('shutdown step finished')).map((l) => l['step']);
  assert.deepEqual(steps, [
    'stop producer',
    'stop scheduled jobs',
    'drain pipeline',
    'stop worker threads',
    'close zmq sockets',
    'flush telemetry',
    'flush logs',
  ]);
  // The stats worker's last figures count every processed event, the drained ones included.
  const figures = service.lines.filter((l) => l.thread === 'stats' && l.msg === 'throughput');
  assert.equal(
    figures.at(-1)?.['total'],
    service.lines.filter((l) => l.thread === 'main' && l.msg === 'event processed').length,
  );
});
