/**
 * A benchmark's worker process: `BENCH_WORKER=stages` runs stages (the project's and the
 * pass-through ones of `pass-stages.ts`) exactly as `processors/main.ts` does; `BENCH_WORKER=raw`
 * runs raw kafkajs copier hops (RAW_HOPS, a JSON list of `RawHop`) side by side in one producer.
 * Both log "stages running" once joined.
 *
 * `BENCH_STUB_PASS=1` (a diagnostic of the layout suite, never a way to run the pipeline): the
 * schedule store's claims of items due already (`passMany`, `passed`) answer at once without
 * Redis, so the chain runs without the claim that lets an order id count once and a cancel race
 * a release safely; the rest of the chain's work is unchanged. What it gains is what the claim
 * costs.
 */
import { loadConfig } from '../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { ScheduleStore, type PassResult } from '../platform/redis/schedule-store.ts';
import { runStageProcess } from '../processors/runtime/process.ts';
import { STAGES } from '../processors/stages.ts';
import { PASS_STAGES } from './pass-stages.ts';
import { rawCopier, type RawHop } from './support.ts';

if (process.env.BENCH_WORKER === 'raw') {
  const config = loadConfig();
  const logger = createLogger({ name: 'raw' });
  const kafka = new KafkaAdapter({ ...kafkaConnection(config), clientId: 'bench-raw', logger });
  const hops = JSON.parse(process.env.RAW_HOPS ?? '[]') as RawHop[];
  const producer = await kafka.plainProducer();
  const copiers: Awaited<ReturnType<typeof rawCopier>>[] = [];
  for (const hop of hops)
    copiers.push(
      await rawCopier(kafka, {
        ...hop,
        producer,
        partitionsConcurrently: config.PARTITIONS_CONCURRENTLY,
        transaction: { maxRecords: config.TRANSACTION_MAX_RECORDS, maxBytes: config.TRANSACTION_MAX_BYTES },
      }),
    );
  await Promise.all(copiers.map((c) => c.joined));
  logger.info('stages running');
  process.on('SIGTERM', () => {
    void Promise.all(copiers.map((c) => c.stop())).then(async () => {
      await producer.close();
      await kafka.close();
      process.exit(0);
    });
  });
} else {
  if (process.env.BENCH_STUB_PASS === '1') {
    ScheduleStore.prototype.passMany = (list) => Promise.resolve(list.map((): PassResult => 'pass'));
    ScheduleStore.prototype.passed = (ids) => Promise.resolve(ids.length);
  }
  runStageProcess({ ...STAGES, ...PASS_STAGES });
}
