import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import type { ConsumerHandle, GroupMember, PlainProducer } from '../../platform/kafka/adapter.ts';
import { partitionForKey } from '../../platform/kafka/partitioner.ts';
import { recordedClients, testConfig, uniquePrefix } from '../support/stack.ts';
import { StackControl, inSyncAgain, javaHash, sleep } from './cluster.ts';

/**
 * A broker's death costs a consumer group none of its members. The broker killed here leads some
 * of the topic's partitions and coordinates the group. Two consumers (the adapter's, with the
 * stages' settings) read the topic while one producer per partition writes to it.
 *
 * Unpatched, kafkajs stopped every fetcher of a consumer on the first refused connection to the
 * broker and, after its retries, crashed the consumer (KafkaJSNumberOfRetriesExceeded, 7–14 s
 * after the kill: every stage in the chaos test's logs) and started it again as a new member, a
 * rebalance of its whole group; a member whose heartbeats went to the dead coordinator did the
 * same. Every stage then verified its partitions again and the others' transactions were refused
 * for the generation. As the Java client does, a consumer now goes on: the dead broker's own
 * partitions wait until the cluster has moved their leaders (the metadata is asked for again),
 * the other brokers' partitions are read throughout, and the coordinator is looked up again
 * and the member heartbeats there in the generation it had. A member that starts as the broker
 * dies, in another group it coordinated, joins through the lookups too (unpatched, its join gave
 * up after the cluster's retries, about 5 s, while FindCoordinator still named the dead broker:
 * a crash, seen in a chaos run's restarted stage).
 *
 *
 * The same again with a broker that hangs (SIGSTOP for 30 s, then SIGCONT) instead of dying: it
 * takes requests and answers none, so a client learns of it only by its own timeouts. Before the
 * patch's heartbeat deadline every fetcher of a consumer waited on the heartbeat to it (kafkajs's
 * request timeout, 30 s), so no partition was read for the whole hang, and the group's new
 * coordinator (once the controller had fenced the broker) dropped both members after one session:
 * 2 joins and 345 records read again. Then the hung broker's own partitions were neither written
 * nor read, and the late member did not join, until the hang's end (20 s, as it was then; 30 s,
 * kafkajs's request timeout, for a longer hang): their requests waited on the broker after the controller had fenced
 * it and moved its leaders. Now a client that has a broker leave answers unanswered asks for the
 * metadata every second, and gives up that broker's connections, their requests and connects in
 * flight, when the metadata no longer names it: as if it had died (13-17 s in, 8-12 s of it the
 * fencing).
 *
 * Runs on the cluster stack (STACK_BROKERS=3) beside the chaos test.
 */
const PARTITIONS = 6;
// (long enough that a broker's partitions moved by the cluster, 8-14 s in, are read well before
// it is back, on a noisy machine too)
const DOWN_MS = 30_000;
const SEND_EVERY_MS = 100;

/** how the broker is lost, and how it comes back */
interface Fault {
  name: string;
  /** as the table says it */
  done: string;
  begin(stack: StackControl, broker: string): void;
  end(stack: StackControl, broker: string): Promise<void>;
}
const FAULTS: Fault[] = [
  {
    name: 'dies',
    done: 'SIGKILLed, restarted',
    begin: (stack, broker) => stack.kill(broker),
    end: (stack) => stack.restartMissing(),
  },
  {
    // a host that hangs (a long pause, a frozen VM): its connections stay open and answer
    // nothing, so every request to it waits for its timeout, and its connects take the TCP
    // handshake (the kernel answers it) but never the TLS one; the controller fences it after
    // broker.session.timeout.ms and moves its partitions' leaders, and it comes back as it was
    name: 'hangs',
    done: 'SIGSTOPped, SIGCONTed',
    begin: (stack, broker) => stack.pause(broker),
    end: async (stack, broker) => stack.resume(broker),
  },
];

describe.each(FAULTS)('a consumer group while the broker coordinating it $name', (fault) => {
  const env = process.env as Record<string, string>;
  const prefix = uniquePrefix(`memberloss-${fault.name}`);
  const config = testConfig(prefix);
  const { kafka, logged } = recordedClients(config);
  const stack = new StackControl(env);
  const topic = `${prefix}flow`;
  const consumers: ConsumerHandle[] = [];
  const producers: PlainProducer[] = [];
  let victim = 0;
  let writing = true;
  let writers: Promise<void>[] = [];

  afterAll(async () => {
    writing = false;
    await Promise.allSettled(writers);
    // the broker is back whatever happened (the chaos test runs on this stack next)
    if (victim > 0) {
      stack.resume(`kafka-${victim}`);
      await stack.restartMissing().catch(() => undefined);
    }
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await Promise.allSettled(producers.map((p) => p.close()));
    await kafka.deleteTopicsWithPrefix(prefix).catch(() => undefined);
    await kafka.close();
  });

  /** each partition's leader, once every broker asked knows all `count` of them (a new topic's metadata spreads) */
  async function leadersOf(name: string, count: number): Promise<Map<number, number>> {
    for (let tries = 1; ; tries++) {
      const leaders = await kafka.partitionLeaders(name).catch((err: Error) => {
        if (tries >= 60) throw err;
        return new Map<number, number>();
      });
      if (leaders.size === count && [...leaders.values()].every((b) => b >= 0)) return leaders;
      if (tries >= 60) throw new Error(`${name}: ${leaders.size} of ${count} partitions with a leader after 30 s`);
      await sleep(500);
    }
  }

  /**
   * `attempt`, again while a broker answers that it does not know the topic yet (up to 30 s): a
   * new topic's metadata reaches the brokers one by one, and one restarted by the test before
   * this one may still be catching up on it.
   */
  async function whileUnknown<T>(attempt: () => Promise<T>): Promise<T> {
    const since = Date.now();
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!/does not host this topic-partition/.test(String(err)) || Date.now() - since > 30_000) throw err;
        await sleep(500);
      }
    }
  }

  const started = Date.now();
  /** the test's progress as it goes (a phase that hangs says which it is) */
  const phase = (what: string) =>
    process.stderr.write(`broker ${fault.name} ${((Date.now() - started) / 1000).toFixed(1)} s: ${what}\n`);

  it('keeps its members and their generation, reads the live brokers’ partitions throughout and the dead one’s once they have moved', async () => {
    await kafka.ensureTopics([
      { name: topic, partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': '2' } },
    ]);
    const leaders = await leadersOf(topic, PARTITIONS);
    const led = new Map<number, number[]>();
    for (const [p, b] of leaders) led.set(b, [...(led.get(b) ?? []), p]);
    // (a group's first question makes the cluster create __consumer_offsets, on a fresh stack)
    await whileUnknown(() => kafka.committedOffset(`${prefix}first`, topic, 0));
    const offsetsLeaders = await leadersOf('__consumer_offsets', 12);
    const coordinates = new Set(offsetsLeaders.values());
    // a broker leading some of the topic's partitions, not all of them, and some group's
    // coordinator (a broker restarted lately leads nothing until Kafka moves leaders back to it)
    const candidates = [...led.entries()].filter(([b, ps]) => ps.length < PARTITIONS && coordinates.has(b));
    if (candidates.length === 0)
      throw new Error(
        `no broker leads both some of ${topic} and some of __consumer_offsets: ${JSON.stringify([...led])}`,
      );
    victim = candidates.sort((a, b) => b[1].length - a[1].length)[0]![0];
    const theirs = new Set(led.get(victim));
    const live = [...leaders.keys()].filter((p) => !theirs.has(p));
    // groups the victim coordinates (their __consumer_offsets partition led by the victim): the
    // one read throughout, and one whose first member starts as the victim dies
    const coordinated = (name: string) => {
      for (let i = 0; ; i++) {
        const g = `${prefix}${name}-${i}`;
        if (offsetsLeaders.get((javaHash(g) & 0x7fffffff) % offsetsLeaders.size) === victim) return g;
      }
    };
    const groupId = coordinated('group');
    const lateGroupId = coordinated('late');

    // one key per partition, and a producer each: a partition without a leader holds up its own
    // writes, not the others'
    const keys = new Map<number, string>();
    for (let i = 0; keys.size < PARTITIONS; i++) {
      const p = partitionForKey(`k${i}`, PARTITIONS);
      if (!keys.has(p)) keys.set(p, `k${i}`);
    }
    const sent = new Map<number, number>();
    /** per partition: when each write was acknowledged */
    const acked = new Map<number, number[]>();
    writers = [...keys].map(async ([p, key]) => {
      const producer = await kafka.plainProducer();
      producers.push(producer);
      for (let seq = 0; writing; seq++) {
        await whileUnknown(() =>
          producer.send([{ topic, key, value: Buffer.from(JSON.stringify({ p, seq, at: Date.now() })) }]),
        );
        sent.set(p, seq + 1);
        acked.set(p, [...(acked.get(p) ?? []), Date.now()]);
        await sleep(SEND_EVERY_MS);
      }
    });
    // (a failure is the test's, at its await below; until then it is not an unhandled one)
    for (const w of writers) w.catch(() => undefined);

    /** per partition: each record's sequence number, offset, when it was written and when read */
    const read = new Map<number, { seq: number; offset: string; sentAt: number; at: number }[]>();
    const joins: { consumer: number; at: number; member: GroupMember }[] = [];
    const crashes: { consumer: number; at: number; error: string }[] = [];
    for (let c = 0; c < 2; c++) {
      consumers.push(
        await whileUnknown(() =>
          kafka.batchConsumer({
            groupId,
            topics: [topic],
            partitionsConcurrently: PARTITIONS,
            sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
            onAssignment: (_, member) => joins.push({ consumer: c, at: Date.now(), member }),
            onCrash: (err) => crashes.push({ consumer: c, at: Date.now(), error: err.message }),
            eachBatch: async (batch) => {
              for (const r of batch.records) {
                const { seq, at } = JSON.parse(r.value!.toString()) as { seq: number; at: number };
                const list = read.get(batch.partition) ?? [];
                list.push({ seq, offset: r.offset, sentAt: at, at: Date.now() });
                read.set(batch.partition, list);
                batch.resolveOffset(r.offset);
              }
            },
          }),
        ),
      );
    }
    await Promise.all(consumers.map((c) => c.joined));
    // settled: both members in one generation, and every partition read since its join (a
    // partition that moved at that rebalance is read again from the start by its new owner:
    // nothing is committed here)
    const settled = () => {
      const last = [0, 1].map((c) => joins.filter((j) => j.consumer === c).pop());
      if (!last[0] || !last[1] || last[0].member.generationId !== last[1].member.generationId) return false;
      const since = Math.max(last[0].at, last[1].at);
      return [...leaders.keys()].every((p) => (read.get(p) ?? []).some((r) => r.at > since));
    };
    const settle = Date.now();
    while (!settled()) {
      if (Date.now() - settle > 60_000) throw new Error('the group did not settle with both members reading');
      await sleep(200);
    }
    const settledAt = Date.now();
    const joinsBefore = joins.length;

    phase(`group settled; kafka-${victim} ${fault.name}`);
    const killedAt = Date.now();
    // a failure prints the clients' log from the fault on (warnings, and the groups' coordinator
    // lookups and joins): a CI run keeps nothing else, and the failures here come seldom
    onTestFailed(() => {
      const lines = logged(killedAt, /coordinator|join/i);
      console.log(
        [`the clients' log from the fault on (${lines.length} lines; the last 400):`, ...lines.slice(-400)].join('\n'),
      );
    });
    fault.begin(stack, `kafka-${victim}`);
    // a member that starts now joins its group through the dead coordinator, which FindCoordinator
    // names until the controller fences the broker (unpatched, its join gave up after the
    // cluster's retries: a crash, and kafkajs started it again seconds later)
    const lateCrashes: string[] = [];
    let lateJoinedAt = 0;
    const late = kafka
      .batchConsumer({
        groupId: lateGroupId,
        topics: [topic],
        partitionsConcurrently: PARTITIONS,
        sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
        onAssignment: () => void (lateJoinedAt ||= Date.now()),
        onCrash: (err) => void lateCrashes.push(err.message),
        eachBatch: async (batch) => {
          for (const r of batch.records) batch.resolveOffset(r.offset);
        },
      })
      .then((c) => (consumers.push(c), c));
    late.catch(() => undefined);
    // the partitions' offsets asked for meanwhile, as the releaser's reconciliation and a gateway's
    // takeover ask (readSince), and the chaos test's counts: answered once their leaders have
    // moved. kafkajs's admin fails at once on a leader that is gone, hung or no longer the leader
    // (a chaos run failed on NOT_LEADER_FOR_PARTITION in its counts): the adapter asks again
    // (`whileLeadersAway`), each time by fresh metadata.
    /** when `asked` was answered (its rejection, as the test's failure) */
    const timed = (asked: Promise<unknown>) => asked.then(() => Date.now());
    const offsetsAsked = Promise.allSettled([
      timed(kafka.topicEndOffsets(topic)),
      timed(kafka.readSince(topic, killedAt - 1_000, () => undefined)),
    ]);
    await sleep(DOWN_MS);
    const restartAt = Date.now();
    phase('bringing it back');
    await fault.end(stack, `kafka-${victim}`);
    phase('back; waiting for it to be in sync');
    const [ends, since] = await offsetsAsked;
    const caughtUp = await inSyncAgain(kafka);
    await sleep(5_000);
    writing = false;
    phase('stopping the writers');
    await Promise.all(writers);
    phase('writers stopped; reading the rest');
    // everything written is read
    const drain = Date.now();
    while ([...keys.keys()].some((p) => new Set(read.get(p)?.map((r) => r.seq)).size < (sent.get(p) ?? 0))) {
      if (Date.now() - drain > 60_000) break;
      await sleep(200);
    }

    // the figures: how long each partition went without a record read, from the kill on
    const gap = (p: number) => {
      let last = killedAt;
      let longest = 0;
      for (const r of read.get(p) ?? []) {
        if (r.at < killedAt) continue;
        longest = Math.max(longest, r.at - last);
        last = r.at;
      }
      return longest;
    };
    /** the offsets of a partition read again after the group had settled */
    const readAgain = (p: number) => {
      const seen = new Set<string>();
      const again: string[] = [];
      for (const r of read.get(p) ?? []) {
        if (r.at >= settledAt && seen.has(r.offset)) again.push(r.offset);
        seen.add(r.offset);
      }
      return again;
    };
    // and the longest a record written after the kill waited to be read once Kafka had
    // acknowledged it (the consumer's part: a write waits for the dead broker to leave its
    // partition's in-sync replicas, or for the partition's new leader)
    const latency = (p: number) =>
      Math.max(
        0,
        ...(read.get(p) ?? []).filter((r) => r.sentAt >= killedAt).map((r) => r.at - (acked.get(p)?.[r.seq] ?? r.at)),
      );
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      [
        `broker loss: kafka-${victim} (leader of partitions ${[...theirs].join(', ')} of ${PARTITIONS}, coordinator of the group) ${fault.done} ${s(restartAt - killedAt)} later, ${caughtUp}`,
        `  longest wait for a record from the kill on: live brokers' partitions ${live.map((p) => `${p}: ${s(gap(p))}`).join(', ')}; the dead one's ${[...theirs].map((p) => `${p}: ${s(gap(p))}`).join(', ')}`,
        `  longest from acknowledged to read after the kill: live ${live.map((p) => `${p}: ${s(latency(p))}`).join(', ')}; the dead one's ${[...theirs].map((p) => `${p}: ${s(latency(p))}`).join(', ')}`,
        `  longest between acknowledged writes from the kill on: ${[...keys.keys()]
          .map((p) => {
            let last = killedAt;
            let longest = 0;
            for (const a of acked.get(p) ?? []) {
              if (a < killedAt) continue;
              longest = Math.max(longest, a - last);
              last = a;
            }
            return `${p}: ${s(longest)}`;
          })
          .join(', ')}`,
        `  consumer crashes ${crashes.length}, joins after the kill ${joins.length - joinsBefore}`,
        `  a member started at the kill in a group the dead broker coordinated: ${lateJoinedAt ? `joined ${s(lateJoinedAt - killedAt)} after the kill` : 'not joined'}, crashes ${lateCrashes.length}`,
        `  read again since the group settled: ${[...keys.keys()].map((p) => `${p}: ${readAgain(p).length}`).join(', ')}`,
        `  offsets asked at the kill: ${[ends, since].map((o, i) => `${['topicEndOffsets', 'readSince'][i]} ${o.status === 'fulfilled' ? `answered ${s(o.value - killedAt)} after the kill` : `failed (${String(o.reason)})`}`).join(', ')}`,
      ].join('\n'),
    );

    expect(crashes).toEqual([]);
    expect(joins.slice(joinsBefore)).toEqual([]);
    await late;
    expect(lateCrashes).toEqual([]);
    expect(lateJoinedAt).toBeGreaterThan(0);
    for (const p of keys.keys()) {
      // every record written is read, and none again: no consumer started over from the group's
      // (uncommitted) start, as one joining as a new member does
      expect(new Set((read.get(p) ?? []).map((r) => r.seq)).size, `partition ${p}: records read`).toBe(sent.get(p));
      expect(readAgain(p), `partition ${p}: offsets read again`).toEqual([]);
    }
    // the live brokers' partitions were read while the broker was down: a record written at
    // least half the outage after the kill was read before the broker came back
    for (const p of live) {
      expect(
        (read.get(p) ?? []).some((r) => r.at < restartAt && r.at - killedAt >= DOWN_MS / 2),
        `partition ${p} (on a live broker) read during the outage`,
      ).toBe(true);
    }
    // and the lost broker's partitions once the cluster had moved them (it fences the broker
    // 8-12 s in), before the broker was back: a write after the loss acknowledged and read
    // while it was still down or hung (unpatched, a hung broker's partitions were neither
    // written nor read, nor the late member joined, until the hang's end or the request timeout;
    // a dead one's writes waited on the producer's back-off of up to 5 s, till its restart)
    for (const p of theirs) {
      expect(
        (read.get(p) ?? []).some((r) => r.sentAt > killedAt && r.at < restartAt),
        `partition ${p} (on the lost broker) read again before it was back`,
      ).toBe(true);
    }
    expect(lateJoinedAt, 'the late member joined before the broker was back').toBeLessThan(restartAt);
    // the offsets asked at the kill, answered (once the leaders had moved), not failed
    for (const [what, o] of [
      ['topicEndOffsets', ends],
      ['readSince', since],
    ] as const)
      expect(o.status === 'rejected' ? String(o.reason) : 'answered', what).toBe('answered');
  });
});
