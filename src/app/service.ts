import { amqp, readFlags, runService, type ChannelContract } from '../lib/index.js';
import { appConfigSchema, appEnv, defaultsFile } from './config.js';
import { SamplePipeline } from './pipeline.js';
import type { IntakeContract, ProcessContract, StatsContract } from './protocol.js';
import { assertEvent } from './events.js';
import { HttpNotifier } from './notifier.js';

/**
 * The composition root of the sample app, loaded by the entry module (main.ts) once the
 * signal handlers are in place: declares the worker threads, opens the ZeroMQ
 * endpoint, wires the pipeline, and registers each shutdown step before starting what it
 * stops. Events come from RabbitMQ when AMQP_URL is set, else from the producer thread (the
 * demo needs no broker). A fork replaces this file and the rest of src/app (main.ts stays as it is).
 */
await runService({
  schema: appConfigSchema,
  env: appEnv,
  defaultsFile,
  async setUp(ctx) {
    const { config, coordinator, nanny, zmq } = ctx;

    const fromBroker = config.amqp.url !== '';
    const worker = (name: string): URL => new URL(`./workers/${name}.worker.js`, import.meta.url);
    nanny
      .add({ name: 'processor', module: worker('processor') })
      .add({ name: 'stats', module: worker('stats') });
    if (!fromBroker) nanny.add({ name: 'producer', module: worker('producer') });

    const publisher = await zmq.open('pub', 'results-publisher');
    const endpoint = await publisher.bind(config.sample.publishEndpoint);

    if (!fromBroker) {
      coordinator.addStep({
        name: 'stop producer',
        phase: 'stop-intake',
        run: () => nanny.stopWorker('producer', config.shutdown.stepTimeoutMs),
      });
    }

    await nanny.start();
    const pipeline = new SamplePipeline({
      log: ctx.log,
      control: ctx,
      processor: nanny.channel('processor').as<ProcessContract>(),
      stats: nanny.channel('stats').as<StatsContract>(),
      publisher,
      notifier: readFlags(config).isEnabled('sampleNotify')
        ? new HttpNotifier({
            url: config.sample.notifyUrl,
            policy: ctx.policies.get('sampleHttp'),
            log: ctx.log,
            stopping: ctx.signal,
          })
        : undefined,
      metrics: ctx.metrics,
    });
    coordinator.addStep({ name: 'drain pipeline', phase: 'drain', run: () => pipeline.drain() });
    coordinator.addOpenResourceReporter('pipeline', () => ({ inFlight: pipeline.inFlight }));
    // A scheduled job: the pipeline's figures as metrics and a log line.
    ctx.scheduler.add({
      name: 'pipeline-stats',
      schedule: config.sample.statsSchedule,
      run: () => {
        const figures = {
          processed: pipeline.processed,
          failed: pipeline.failed,
          inFlight: pipeline.inFlight,
        };
        ctx.metrics.gauge('pipeline_in_flight', figures.inFlight);
        ctx.log.info(figures, 'pipeline stats');
      },
    });
    if (fromBroker) {
      // Loaded only with a broker configured: without one, none of the AMQP modules (the
      // core's and amqplib) load (docs/performance.md, start-up).
      const { sampleMessageHandler } = await import('./amqp-intake.js');
      const broker = await amqp.start(ctx, {
        createHandler: ({ publisher, names }) =>
          sampleMessageHandler({ pipeline, publisher, resultsQueue: names.resultsQueue }),
      });
      return { zmqEndpoint: endpoint, inputQueue: broker.names.inputQueue };
    }
    const intake = nanny.channel('producer').as<ChannelContract, IntakeContract>();
    intake.serve(({ event }) => {
      assertEvent(event);
      pipeline.accept(event);
      return { accepted: true };
    });
    return { zmqEndpoint: endpoint };
  },
});
