import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { collectKeys } from '../support/collector.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { produceOrders, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const TOTAL = 4_000;

describe('stage process shutdown', () => {
  const prefix = uniquePrefix('drain');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);
  // Small transactions, so SIGTERM lands between many commits.
  const env = { ...stageEnv(config), TRANSACTION_MAX_RECORDS: '50' };
  const input = topicName(prefix, 'orders');
  let proc: StageProcess | null = null;
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(kafka, codec, config);
  });
  afterAll(async () => {
    proc?.child.kill('SIGKILL');
    await out?.stop();
    await kafka.close();
  });

  it('drains on SIGTERM: commits what it handled, leaves nothing half-done, exits 0', async () => {
    await produceOrders(kafka, codec, input, TOTAL);

    const collector = (out = await collectKeys(kafka, `${prefix}counter`, topicName(prefix, 'ordersDue')));
    proc = startStageProcess(['passthrough'], env);
    await proc.running;
    await collector.waitFor(() => collector.total >= 500, 60_000, 'the stage to be mid-stream');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('"msg":"drained; exiting"');

    // What the stage handled is exactly what it committed: its committed input offsets add up to
    // the records that reached the output, once the output is read to its end.
    let committed = 0;
    for (let p = 0; p < 3; p++) {
      committed += Number((await kafka.committedOffset(`${prefix}notifications.passthrough`, input, p)) ?? 0);
    }
    await collector.readTo(await kafka.topicEndOffsets(topicName(prefix, 'ordersDue')), 30_000);
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(TOTAL);
    expect(collector.distinct).toBe(committed);
    expect(collector.total).toBe(committed);

    // A restart takes up exactly where the drain stopped.
    proc = startStageProcess(['passthrough'], env);
    await collector.waitFor(() => collector.distinct >= TOTAL, 60_000, 'the rest of the stream');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    await collector.readTo(await kafka.topicEndOffsets(topicName(prefix, 'ordersDue')), 30_000);
    expect(collector.distinct).toBe(TOTAL);
    expect(collector.duplicated).toBe(0);
  });
});
