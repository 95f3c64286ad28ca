import * as zmq from 'zeromq';

/**
 * Bench peer process: PULLs from the endpoint in argv[2] until argv[3] messages have arrived,
 * then prints `done` and exits. Raw zeromq on purpose: the receiving side is the same for the
 * core path and the baseline, so only the sending side is compared.
 */
const [endpoint, countText] = process.argv.slice(2);
const expected = Number(countText);
const pull = new zmq.Pull({ linger: 0 });
pull.connect(endpoint ?? '');
process.stdout.write('connected\n');
let received = 0;
while (received < expected) {
  await pull.receive();
  received++;
}
process.stdout.write('done\n');
pull.close();
