/**
 * Pipeline throughput against raw Kafka throughput, measured side by side in one run on the
 * same broker (`./dev bench --suite runtime [--records N] [--rounds R]`).
 *
 *   raw       a plain consumer group reads the input topic and writes every record, unchanged,
 *             to another topic with an idempotent acks=all producer: no Avro, no transactions.
 *   pipeline  the pass-through stage on the real runtime: decode (Avro, registry), handle,
 *             encode, produce and commit offsets in Kafka transactions, exactly once.
 *
 * Both copy the same pre-produced records; each round runs raw then pipeline, each from its own
 * consumer group; the ratio uses the median rate of each.
 */
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { topicName } from '../platform/topics.ts';
import { passthroughStage } from '../processors/passthrough/stage.ts';
import { StageRunner } from '../processors/runtime/runner.ts';
import { produceOrders } from '../test/support/stack.ts';
import { arrivals as arrivalsOn, benchClients, dropRun, median, rawCopier } from './support.ts';

export async function runtimeBench(N: number, ROUNDS: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('runtime');
  const input = topicName(prefix, 'orders');
  const rawOut = topicName(prefix, 'emailQueue'); // any topic: raw copies bytes, schema unused
  const pipeOut = topicName(prefix, 'ordersDue');

  console.log(`producing ${N} Avro orders to ${input} …`);
  await produceOrders(kafka, codec, input, N, 2000);
  const producer = await kafka.plainProducer(); // the raw copier's

  const arrivals = (topic: string, group: string, count: number) => arrivalsOn(kafka, topic, group, count);

  async function runRaw(round: number): Promise<number> {
    const before = (await kafka.topicEndOffsets(rawOut)).size; // touch metadata before timing
    void before;
    const out = await arrivals(rawOut, `${prefix}raw-count-${round}`, N * round);
    const t0 = performance.now();
    const copier = await rawCopier(kafka, {
      groupId: `${prefix}raw-${round}`,
      from: input,
      to: rawOut,
      producer,
      partitionsConcurrently: config.PARTITIONS_CONCURRENTLY,
    });
    await out.finished;
    const seconds = (performance.now() - t0) / 1000;
    await copier.stop();
    await out.stop();
    return N / seconds;
  }

  async function runPipeline(round: number): Promise<number> {
    const out = await arrivals(pipeOut, `${prefix}pipe-count-${round}`, N * round);
    const stage = passthroughStage('orders', 'ordersDue', `passthrough-${round}`);
    const registry = createRegistry(false);
    const metrics = createStageMetrics(registry);
    const t0 = performance.now();
    const runner = new StageRunner(stage, { kafka, codec, config, logger, metrics });
    await runner.start();
    await out.finished;
    const seconds = (performance.now() - t0) / 1000;
    await runner.close();
    await out.stop();
    const tx = (await metrics.transactionLatency.get()).values;
    const count = tx.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const sum = tx.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const handler = (await metrics.handlerLatency.get()).values;
    const hsum = handler.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    console.log(
      `  pipeline round ${round}: ${count} transactions, ${(N / Math.max(1, count)).toFixed(0)} records each, ` +
        `commit ${((sum / Math.max(1, count)) * 1000).toFixed(1)} ms mean, ${(sum / config.TOPIC_PARTITIONS).toFixed(2)} s committing per partition, ` +
        `${hsum.toFixed(2)} s in handlers, ${seconds.toFixed(2)} s wall`,
    );
    return N / seconds;
  }

  const raw: number[] = [];
  const pipe: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    raw.push(await runRaw(round));
    pipe.push(await runPipeline(round));
    console.log(
      `round ${round}: raw ${raw.at(-1)!.toFixed(0)} rec/s, pipeline ${pipe.at(-1)!.toFixed(0)} rec/s, ratio ${(pipe.at(-1)! / raw.at(-1)!).toFixed(2)}`,
    );
  }
  console.log('');
  console.log(
    `records per round:          ${N} (${config.TOPIC_PARTITIONS} partitions, ${config.PARTITIONS_CONCURRENTLY} processed at once, Kafka on 127.0.0.1, same broker for both)`,
  );
  console.log(`raw kafkajs copy (median):  ${median(raw).toFixed(0)} records/s`);
  console.log(`pass-through stage (median): ${median(pipe).toFixed(0)} records/s`);
  console.log(`ratio pipeline / raw:       ${(median(pipe) / median(raw)).toFixed(2)}  (target ≥ 0.5)`);
  await producer.close();
  await kafka.close();
  await dropRun(prefix);
}
