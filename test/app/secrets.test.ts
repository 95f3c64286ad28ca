import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';
import { HttpRecorder } from '../helpers/http-recorder.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The sample's own secret, `sample.notifyUrl` (a URL with a password): never printed at trace
 * level, from start to TERM, and still given to the notifier as Basic credentials. (The core's
 * secrets on every exit path: test/process/secrets.test.ts, on the fixture service.)
 */

const secret = 'Pa/ss@w"rd% 1 ünï notifyQ9';
const notify = new HttpRecorder('ok');
let service: ServiceProcess | undefined;
before(() => notify.start());
after(async () => {
  await service?.stop();
  await notify.close();
});

test('the notifier URL password is used and never printed', async () => {
  service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({
      LOG_LEVEL: 'trace',
      SAMPLE_HTTP_URL: `http://hook:${encodeURIComponent(secret)}@127.0.0.1:${notify.port}/n`,
      FLAG_SAMPLE_NOTIFY: 'true',
    }),
  });
  await notify.waitFor(() => true, 15_000);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit(20_000)).code, ExitCode.OK, service.tail());
  const output = [...service.lines.map((l) => JSON.stringify(l)), ...service.stderr].join('\n');
  assert.ok(service.lines.some((l) => l.level === 'trace' || l.level === 'debug'));
  for (const form of [secret, encodeURIComponent(secret), 'notifyQ9', 'Pa/ss', 'ünï']) {
    assert.ok(!output.includes(form), `${form} printed`);
  }
  const auth = notify.requests[0]?.headers.authorization ?? '';
  assert.equal(
    Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8'),
    `hook:${secret}`,
  );
});
