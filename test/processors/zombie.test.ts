import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { collectKeys } from '../support/collector.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { eventually, produceOrders, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const TOTAL = 6_000;

// A stage instance that stops for longer than its session (a long GC pause, a frozen VM) is a
// zombie: the group gives its partitions to another instance, which handles their records from
// the committed offsets. When the zombie wakes, it goes on with the batches it held and commits
// them. That commit must be refused, or those records come out twice: per partition, the new
// owner's InitProducerId on the partition's transactional id fences the zombie; per instance,
// the group coordinator refuses offsets sent with the zombie's old generation (KIP-447).
describe.each([
  ['partition', { TRANSACTION_SCOPE: 'partition' }],
  ['instance', { TRANSACTION_SCOPE: 'instance' }],
])('a stage instance paused past its session (a zombie), transactions per %s', (scope, settings) => {
  const prefix = uniquePrefix(`zombie-${scope}`);
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);
  const processes: StageProcess[] = [];

  beforeAll(() => provision(kafka, codec, config));
  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await kafka.close();
  });

  it('has what it commits after waking refused: every record once downstream', async () => {
    const out = topicName(prefix, 'ordersDue');
    const collector = await collectKeys(kafka, `${prefix}counter`, out);
    try {
      const env = { ...stageEnv(config), ...settings, CONSUMER_SESSION_TIMEOUT_MS: '6000' };
      const a = startStageProcess(['passthrough'], { ...env, INSTANCE_ID: 'zombie-a' });
      processes.push(a);
      await a.running;
      const b = startStageProcess(['passthrough'], { ...env, INSTANCE_ID: 'zombie-b' });
      processes.push(b);
      await b.running;
      // both hold partitions
      await eventually(
        async () => /"assignment":\{"[^"]+":\[\d(,\d)?\]\},"msg":"partitions assigned"/.test(b.output()),
        'b holds some partitions',
        30_000,
      );

      // in small acknowledged batches, so batches and transactions are under way when a stops
      const half = TOTAL / 2;
      const orders = topicName(prefix, 'orders');
      const first = produceOrders(kafka, codec, orders, half, 50);
      await collector.waitFor(() => collector.total >= half * 0.3, 90_000, '30 % of the first half');
      a.child.kill('SIGSTOP');
      const seenOfB = b.output().length;
      await first;
      // the group drops a after its session (6 s) and b takes every partition; the second half
      // is b's alone, and a wakes while b handles it
      await eventually(
        async () => /"assignment":\{"[^"]+":\[0,1,2\]\},"msg":"partitions assigned"/.test(b.output().slice(seenOfB)),
        'b holding every partition',
        60_000,
      );
      const second = produceOrders(kafka, codec, orders, TOTAL, 50, undefined, half);
      const atTakeOver = collector.total;
      await collector.waitFor(() => collector.total >= atTakeOver + 200, 60_000, 'b handling a’s partitions');
      a.child.kill('SIGCONT');
      await second;
      await collector.waitFor(() => collector.distinct >= TOTAL, 150_000, `${TOTAL} distinct records downstream`);
      for (const p of [a, b]) p.child.kill('SIGTERM');
      const exits = await Promise.all([a.exited, b.exited]);
      await collector.readTo(await kafka.topicEndOffsets(out), 60_000);
      const refused = (a.output().match(/"msg":"transaction failed"/g) ?? []).length;
      console.log(
        `zombie (${scope}): ${TOTAL} in, ${collector.total} out, ${collector.distinct} distinct, ` +
          `${collector.duplicated} duplicated; the woken instance's failed transactions ${refused}; exits ${exits.join(', ')}`,
      );
      expect(collector.distinct).toBe(TOTAL);
      expect(collector.duplicated).toBe(0);
    } finally {
      await collector.stop();
    }
  });
});
