/**
 * Chain throughput (`./dev bench --suite chain [--records N]`): N past-due email orders go from
 * the orders topic through every stage of the chain (scheduler, which passes due orders on
 * itself, with its releaser; enrich-recipients, evaluate-condition, resolve-channel,
 * schedule-window), all in this process, the three middle ones apart (`./dev up` runs them fused,
 * as prepare-notifications: `--suite layout` compares the two), until N notifications have arrived on email.queue (read
 * committed). Beside it, in the same run on the same broker: raw kafkajs consume→produce copies
 * of the same N records (no Avro, no transactions), over one hop, over five hops at once, and
 * in the chain's own shape: four hops that write what the chain's hops write per email order
 * (three records, one, one, three: the order or notification plus its status events, each
 * status the size of a real one). The chain makes four transactional hops plus Redis round trips
 * per order.
 */
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { orderStatus } from '../platform/status.ts';
import { topicName } from '../platform/topics.ts';
import { STAGES } from '../processors/stages.ts';
import { runnerFor, stageDeps } from '../processors/runtime/wiring.ts';
import { produceOrders } from '../test/support/stack.ts';
import { arrivals as arrivalsOn, benchClients, dropRun, rawCopier } from './support.ts';

const CHAIN = ['scheduler', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'schedule-window'];

export async function chainBench(N: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('chain');
  const input = topicName(prefix, 'orders');
  // the raw copies' own topics, outside the chain: raw.0 for one hop, raw.1 … raw.5 for five
  const rawTopics = [0, 1, 2, 3, 4, 5].map((i) => `${prefix}bench.raw.${i}`);
  // the chain's shape: raw.shape.1 … raw.shape.4, and status events to raw.shape.status
  const shapeTopics = [1, 2, 3, 4, 'status'].map((i) => `${prefix}bench.raw.shape.${i}`);
  await kafka.ensureTopics(
    [...rawTopics, ...shapeTopics].map((name) => ({
      name,
      partitions: config.TOPIC_PARTITIONS,
      replicationFactor: 1,
      config: {},
    })),
  );
  console.log(`producing ${N} past-due Avro email orders to ${input} …`);
  const dueAt = Date.now() - 1_000;
  await produceOrders(kafka, codec, input, N, 2000, () => ({ requestedSendTime: dueAt }));

  const arrivals = (topic: string, group: string) => arrivalsOn(kafka, topic, group, N);

  // raw: bytes copied hop by hop by plain consumer groups and one idempotent acks=all producer,
  // no Avro, no transactions; `hops` copiers run at once, as the chain's stages do
  const producer = await kafka.plainProducer();
  async function raw(hops: number): Promise<number> {
    const chain = [input, ...(hops === 1 ? rawTopics.slice(0, 1) : rawTopics.slice(1, 1 + hops))];
    const last = await arrivals(chain.at(-1)!, `${prefix}raw-count-${hops}`);
    const t0 = performance.now();
    const copiers = [];
    for (let h = 0; h < hops; h++) {
      const [from, to] = [chain[h]!, chain[h + 1]!];
      copiers.push(
        await rawCopier(kafka, {
          groupId: `${prefix}raw-${hops}-${h}`,
          from,
          to,
          producer,
          partitionsConcurrently: config.PARTITIONS_CONCURRENTLY,
        }),
      );
    }
    await last.finished;
    const rate = N / ((performance.now() - t0) / 1000);
    for (const c of copiers) await c.stop();
    await last.stop();
    return rate;
  }
  const rawRate = await raw(1);
  console.log(`raw one-hop copy done: ${rawRate.toFixed(0)} records/s`);
  const raw5Rate = await raw(5);
  console.log(`raw five-hop copy done: ${raw5Rate.toFixed(0)} records/s`);

  // the chain's shape: orders → due (+ Registered, Processing), → enriched, → approved, → email
  // queue (+ the notification's status, Order_Processed); a status event is about this big
  const statusBytes = (
    await codec.encode(
      'status',
      orderStatus({ orderId: crypto.randomUUID(), creator: 'ttd' }, 'Order_Processing', Date.now()),
    )
  ).length;
  async function rawShape(): Promise<number> {
    const chain = [input, ...shapeTopics.slice(0, 4)];
    const sideCounts = [2, 0, 0, 2];
    const last = await arrivals(chain.at(-1)!, `${prefix}raw-count-shape`);
    const t0 = performance.now();
    const copiers = [];
    for (let h = 0; h < 4; h++) {
      copiers.push(
        await rawCopier(kafka, {
          groupId: `${prefix}raw-shape-${h}`,
          from: chain[h]!,
          to: chain[h + 1]!,
          producer,
          partitionsConcurrently: config.PARTITIONS_CONCURRENTLY,
          side: { topic: shapeTopics[4]!, count: sideCounts[h]!, bytes: statusBytes },
        }),
      );
    }
    await last.finished;
    const rate = N / ((performance.now() - t0) / 1000);
    for (const c of copiers) await c.stop();
    await last.stop();
    return rate;
  }
  const rawShapeRate = await rawShape();
  await producer.close();
  console.log(`raw copy in the chain's shape done: ${rawShapeRate.toFixed(0)} orders/s; starting the chain …`);

  // the chain, as ./dev up runs it
  const registry = createRegistry(false);
  const metrics = createStageMetrics(registry);
  const deps = stageDeps({ config, kafka, codec, logger, registry });
  const bundles = CHAIN.map((n) => STAGES[n]!.build(deps));
  // Only the last hop is watched while the chain runs, as in the raw runs; when each hop got its
  // last record is read from the records' timestamps afterwards, to show where the time goes.
  const hops = ['ordersDue', 'ordersEnriched', 'ordersApproved', 'emailQueue'] as const;
  const out = await arrivals(topicName(prefix, 'emailQueue'), `${prefix}chain-count`);
  const wall0 = Date.now();
  const c0 = performance.now();
  const runners = bundles.map((b) => runnerFor(b, { kafka, codec, config, logger, metrics }));
  for (const r of runners) await r.start();
  for (const s of bundles.flatMap((b) => b.services)) s.start();
  await out.finished;
  const chainRate = N / ((performance.now() - c0) / 1000);
  for (const s of bundles.flatMap((b) => b.services)) await s.close();
  for (const r of runners) await r.close();
  await out.stop();
  deps.closeRedis();
  const lastAt = new Map<string, number>();
  for (const hop of hops) {
    let last = 0;
    await kafka.readSince(topicName(prefix, hop), wall0 - 1_000, (r) => (last = Math.max(last, Number(r.timestamp))));
    lastAt.set(hop, last);
  }
  await kafka.close();
  await dropRun(prefix);

  console.log(`orders:                        ${N} (${config.TOPIC_PARTITIONS} partitions, same broker for both)`);
  console.log(`raw kafkajs copy, one hop:     ${rawRate.toFixed(0)} records/s`);
  console.log(
    `raw kafkajs copy, five hops:   ${raw5Rate.toFixed(0)} records/s (five copiers at once, like the chain's stages)`,
  );
  console.log(
    `raw kafkajs, chain's shape:    ${rawShapeRate.toFixed(0)} orders/s (4 hops writing 3+1+1+3 records per order, statuses ${statusBytes} bytes)`,
  );
  console.log(`chain, orders → email.queue:   ${chainRate.toFixed(0)} orders/s (5 stages, 1 releaser, Redis)`);
  console.log(
    `last record written per hop:   ${hops.map((h) => `${h} ${(((lastAt.get(h) ?? 0) - wall0) / 1000).toFixed(1)} s`).join(', ')}`,
  );
  const tx = (await metrics.transactionLatency.get()).values;
  for (const stage of CHAIN) {
    const count = tx.find((v) => v.metricName?.endsWith('_count') && v.labels.stage === stage)?.value ?? 0;
    const sum = tx.find((v) => v.metricName?.endsWith('_sum') && v.labels.stage === stage)?.value ?? 0;
    const handled = (await metrics.handlerLatency.get()).values.find(
      (v) => v.metricName?.endsWith('_sum') && v.labels.stage === stage,
    )?.value;
    console.log(
      `  ${stage.padEnd(20)} ${String(count).padStart(6)} transactions, ${(N / Math.max(1, count)).toFixed(0).padStart(5)} orders each, commit ${((sum / Math.max(1, count)) * 1000).toFixed(0)} ms mean, ${(handled ?? 0).toFixed(1)} s in handlers`,
    );
  }
  console.log(`ratio chain / raw one hop:     ${(chainRate / rawRate).toFixed(2)}  (target ≥ 0.3)`);
  console.log(`ratio chain / raw five hops:   ${(chainRate / raw5Rate).toFixed(2)}`);
  console.log(`ratio chain / raw, same shape: ${(chainRate / rawShapeRate).toFixed(2)}`);
  // what raw Kafka itself reaches in the chain's shape, against one hop: a bound on the first ratio
  console.log(
    `ratio raw same shape / raw one hop: ${(rawShapeRate / rawRate).toFixed(2)}  (raw Kafka's own ceiling for that ratio)`,
  );
}
