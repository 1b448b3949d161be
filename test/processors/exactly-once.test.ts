import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { collectKeys } from '../support/collector.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { produceOrders, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const TOTAL = 10_000;

describe('stage runtime delivery guarantee', () => {
  const prefix = uniquePrefix('eos');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);
  const env = stageEnv(config);
  const processes: StageProcess[] = [];
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(kafka, codec, config);
  });

  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await out?.stop();
    await kafka.close();
  });

  it('neither loses nor duplicates records when the stage is SIGKILLed mid-stream and restarted', async () => {
    const collector = (out = await collectKeys(kafka, `${prefix}counter`, topicName(prefix, 'ordersDue')));
    const first = startStageProcess(['passthrough'], env);
    processes.push(first);
    await first.running;

    // Stream the input while the stage runs, in acknowledged batches (idempotent producer, acks=all).
    const streaming = produceOrders(kafka, codec, topicName(prefix, 'orders'), TOTAL, 250);

    await collector.waitFor(() => collector.total >= TOTAL * 0.3, 60_000, 'a third of the stream downstream');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const atKill = collector.total;

    const second = startStageProcess(['passthrough'], env);
    processes.push(second);
    await streaming;
    await collector.waitFor(() => collector.distinct >= TOTAL, 150_000, `${TOTAL} distinct records downstream`);

    // Stop the stage cleanly, then read the output to its end: a duplicate written at any point
    // would now be counted.
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    await collector.readTo(await kafka.topicEndOffsets(topicName(prefix, 'ordersDue')), 60_000);

    console.log(
      `exactly-once: ${TOTAL} sent, ${collector.total} received, ${collector.distinct} distinct, ` +
        `${collector.duplicated} duplicated, SIGKILL after ${atKill}`,
    );
    expect(atKill).toBeLessThan(TOTAL);
    expect(collector.distinct).toBe(TOTAL);
    expect(collector.duplicated).toBe(0);
    expect(collector.total).toBe(TOTAL);
  });
});
