import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * READY_FILE: the service writes its pid there at `ready`, for supervisord's listener
 * (docker/fatal-listener.py). The file is in a directory the service's user owns, so what is
 * there may be anything; the write must never hold the main thread.
 */

test('READY_FILE gets the pid at ready; a FIFO or a link there is said and skipped, never waited on or followed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ready-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ready');
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  // A link is refused as the listener refuses it (O_NOFOLLOW): written through, the service
  // said ready where the listener read nothing, and the link's target was overwritten.
  const target = join(dir, 'target');
  writeFileSync(target, 'keep\n');
  const link = join(dir, 'link');
  symlinkSync(target, link);
  for (const [path, kind] of [
    [file, 'file'],
    [fifo, 'fifo'],
    [link, 'link'],
  ] as const) {
    // Before: the FIFO's open blocked main for good right after `ready`; killed as a stall.
    const service = new ServiceProcess({
      env: testEnv({ READY_FILE: path, MAIN_STALL_LIMIT_MS: '3000', FIXTURE_TICK_MS: '100' }),
    });
    t.after(() => service.stop());
    await service.waitFor('ready');
    if (kind === 'file') {
      assert.equal(readFileSync(path, 'utf8'), `${service.pid}\n`);
    } else {
      const warned = await service.waitFor(
        'READY_FILE cannot be written: a restart loop would count this run as never ready',
      );
      assert.equal(warned['file'], path);
      assert.equal(readFileSync(target, 'utf8'), 'keep\n', 'the link was followed');
      // Main still turns: it finishes jobs after the warning, past the stall limit.
      const after = service.lines.length;
      await service.waitFor(
        (l) => l.thread === 'main' && l.msg === 'job done' && service.lines.indexOf(l) >= after,
      );
      assert.equal(service.child.exitCode, null, 'still running');
    }
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  }
});
