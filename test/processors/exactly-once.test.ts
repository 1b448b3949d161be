import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerHandle } from '../../platform/kafka/adapter.ts';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { sampleOrder, testClients, testConfig, uniquePrefix, until } from '../support/stack.ts';

const TOTAL = 10_000;

describe('stage runtime delivery guarantee', () => {
  const prefix = uniquePrefix('eos');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);
  const env = {
    KAFKA_BROKERS: config.KAFKA_BROKERS.join(','),
    SCHEMA_REGISTRY_URL: config.SCHEMA_REGISTRY_URL,
    TOPIC_PREFIX: prefix,
    TOPIC_PARTITIONS: '3',
    STAGE_HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    PASSTHROUGH_INPUT: 'orders',
    PASSTHROUGH_OUTPUT: 'ordersDue',
  };
  const seen = new Map<string, number>();
  let total = 0;
  const lastSeen = new Map<number, bigint>();
  let pokeEnd: () => void = () => undefined;
  let collector: ConsumerHandle | null = null;
  const processes: StageProcess[] = [];

  beforeAll(async () => {
    await provision(kafka, codec, config);
  });

  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await collector?.stop();
    await kafka.close();
  });

  it('neither loses nor duplicates records when the stage is SIGKILLed mid-stream and restarted', async () => {
    const arrivedAll = until(() => seen.size >= TOTAL, 150_000, `${TOTAL} distinct records downstream`);
    const arrivedSome = until(() => total >= TOTAL * 0.3, 60_000, 'a third of the stream downstream');
    collector = await kafka.collect({
      groupId: `${prefix}counter`,
      topics: [topicName(prefix, 'ordersDue')],
      onRecord: (r) => {
        const id = r.key?.toString() ?? '';
        seen.set(id, (seen.get(id) ?? 0) + 1);
        total++;
        lastSeen.set(r.partition, BigInt(r.offset));
        pokeEnd();
        arrivedSome.poke();
        arrivedAll.poke();
      },
    });

    const first = startStageProcess(['passthrough'], env);
    processes.push(first);
    await first.running;

    // Stream the input while the stage runs, in acknowledged batches (idempotent producer, acks=all).
    const producer = await kafka.plainProducer();
    const inputTopic = topicName(prefix, 'orders');
    const streaming = (async () => {
      for (let start = 0; start < TOTAL; start += 250) {
        const batch = [];
        for (let i = start; i < Math.min(TOTAL, start + 250); i++) {
          const order = sampleOrder(i);
          batch.push({ topic: inputTopic, key: order.orderId, value: await codec.encode('orders', order) });
        }
        await producer.send(batch);
      }
    })();

    await arrivedSome.done;
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const atKill = total;

    const second = startStageProcess(['passthrough'], env);
    processes.push(second);
    await streaming;
    await producer.close();
    await arrivedAll.done;

    // Stop the stage cleanly, then read the output to its end: a duplicate written at any point
    // would now be counted. A partition is read to its end when only its final commit marker
    // (one offset) lies beyond the last record seen.
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const ends = await kafka.topicEndOffsets(topicName(prefix, 'ordersDue'));
    const readToEnd = until(
      () => [...ends].every(([p, high]) => BigInt(high) === 0n || (lastSeen.get(p) ?? -1n) + 2n >= BigInt(high)),
      60_000,
      'the collector to reach the end of every output partition',
    );
    pokeEnd = readToEnd.poke;
    await readToEnd.done;

    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    console.log(
      `exactly-once: ${TOTAL} sent, ${total} received, ${seen.size} distinct, ${duplicates} duplicated, killed after ${atKill}`,
    );
    expect(atKill).toBeLessThan(TOTAL);
    expect(seen.size).toBe(TOTAL);
    expect(duplicates).toBe(0);
    expect(total).toBe(TOTAL);
  });
});
