import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { checkReplicas, ReplicaWait, type ReplicaWaitOutcome } from '../../platform/redis/replica-wait.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import { replicatedPair } from '../support/redis-server.ts';
import { eventually } from '../support/stack.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * Redis replicates asynchronously: a failover to a replica loses the writes it had not received.
 * A sender's claim lost that way lets the notification be handed over again, by whichever sender
 * replays its record: sent twice. With REDIS_WAIT_REPLICAS a claim is used only once the
 * replicas hold it (Redis WAIT). Here a primary and its replica (append-only, fsync always) of
 * the test's own: the replica dies, claims are made meanwhile, the primary dies, and the replica
 * comes back from its file and is promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('the send ledger across a Redis failover', async () => {
  const { primary, replica, replicaPort, client, start, failOver } = await replicatedPair((url) =>
    createRedis({ url }, quiet),
  );
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  /** the wait a sender makes with that configuration, on `connection` */
  const replicasOn = (connection: Redis, observe?: (o: ReplicaWaitOutcome) => void) =>
    new ReplicaWait(connection, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'send ledger', observe);
  const claims = { waitMs: 100, pollMs: 20 };
  const ledger = (redis: Redis, options = {}) => new SendLedger(redis, 'ledger-replicas:', 3600, undefined, options);

  it('uses a claim only once a replica holds it, so the promoted replica still has it', async () => {
    await start();
    const onPrimary = client(primary.socket);
    const careful = ledger(onPrimary, { ...claims, replicas: replicasOn(onPrimary) });
    const careless = ledger(client(primary.socket), claims);

    expect(await careful.begin('kept')).toBeNull();
    await replica.kill();
    // no replica takes the primary's writes now: a claim only the primary holds
    expect(await careless.begin('lost')).toBeNull();
    const since = Date.now();
    await expect(careful.begin('unsure')).rejects.toMatchObject({
      retriable: true,
      message: 'send ledger (replicas): the claim reached 0 of 1 replicas in 300 ms',
    });
    expect(Date.now() - since).toBeGreaterThanOrEqual(290);
    // its next try finds its own claim, unused, written again and waited for again: still none
    await expect(careful.begin('unsure')).rejects.toThrow(/reached 0 of 1 replicas/);

    const promoted = await failOver();
    // another sender replays the records, against the promoted replica
    const other = ledger(promoted, claims);
    // the claim used for a hand-over is there: reported in doubt, never handed over again
    expect(await other.begin('kept')).toEqual({ state: 'sending' });
    // the claim made without the wait went with the old primary: it would be sent twice
    expect(await other.begin('lost')).toBeNull();
    // the claim never used: nothing was handed over under it, so a new one is right
    expect(await other.begin('unsure')).toBeNull();
  });

  it('waits for claims made together together, on a connection of their own', async () => {
    // (after the test above: the promoted replica is a primary without replicas)
    const main = client(replica.socket);
    const own = client(replica.socket);
    const outcomes: string[] = [];
    const careful = ledger(main, {
      ...claims,
      replicas: replicasOn(own, (o) => void outcomes.push(o)),
    });
    const waits = async () => Number(/^cmdstat_wait:calls=(\d+)/m.exec(await main.info('commandstats'))?.[1] ?? 0);
    const before = await waits();
    const settled: string[] = [];
    const begun = Array.from({ length: 8 }, (_, i) =>
      careful.begin(`together-${i}`).then(
        () => void settled.push('claim used'),
        (err: Error) => void settled.push(err.message),
      ),
    );
    // the process's other calls (its liveness among them) are not held behind the waits
    const admin = client(replica.socket);
    await eventually(
      async () => /^blocked_clients:1\r?$/m.test(await admin.info('clients')),
      'the claims waiting for replicas',
    );
    await main.set('ledger-replicas:other', '1');
    settled.push('other call answered');
    await Promise.all(begun);
    expect(settled[0]).toBe('other call answered');
    expect(settled.slice(1)).toEqual(
      Array(8).fill('send ledger (replicas): the claim reached 0 of 1 replicas in 300 ms'),
    );
    expect(outcomes).toEqual(Array(8).fill('short'));
    // one wait for the first claim, one the others shared (one each before)
    expect((await waits()) - before).toBeLessThanOrEqual(2);
  });

  it('holds, never dead-letters, a claim whose wait Redis refuses, and says why at the start', async () => {
    const admin = client(replica.socket);
    await admin.call('ACL', 'SETUSER', 'nowait', 'on', 'nopass', '~*', '&*', '+@all', '-wait');
    const refusing = client(`redis://nowait:any@127.0.0.1:${replicaPort}`);
    const outcomes: string[] = [];
    const careful = ledger(refusing, {
      ...claims,
      replicas: replicasOn(refusing, (o) => void outcomes.push(o)),
    });
    await expect(careful.begin('refused')).rejects.toMatchObject({
      retriable: true,
      message: expect.stringMatching(/^send ledger \(replicas\): NOPERM .*wait.* \(REDIS_WAIT_REPLICAS needs WAIT\)$/),
    });
    expect(outcomes).toEqual(['failed']);
    const logged: unknown[][] = [];
    const logger = {
      warn: (...args: unknown[]) => void logged.push(['warn', ...args]),
      error: (...args: unknown[]) => void logged.push(['error', ...args]),
    };
    await checkReplicas(refusing, 1, logger);
    expect(logged).toEqual([
      [
        'error',
        { err: expect.stringMatching(/^NOPERM .*wait/) },
        'REDIS_WAIT_REPLICAS: Redis refuses WAIT; what waits for its replicas is held until it takes it (or REDIS_WAIT_REPLICAS is 0)',
      ],
    ]);
  });

  it('warns at a sender’s start when Redis has fewer replicas in step than claims wait for', async () => {
    // (after the tests above: the promoted replica has none)
    const warned: unknown[][] = [];
    const logger = {
      warn: (...args: unknown[]) => void warned.push(args),
      error: (...args: unknown[]) => void warned.push(args),
    };
    await checkReplicas(client(replica.socket), 1, logger);
    expect(warned).toEqual([
      [
        { connected: 0, online: 0, wanted: 1 },
        'REDIS_WAIT_REPLICAS: Redis has fewer replicas in step than it asks for; what waits for them is held until they are',
      ],
    ]);
    // none asked for, or as many as asked for: nothing said
    await checkReplicas(client(replica.socket), 0, logger);
    await primary.start();
    const demoted = client(primary.socket);
    await demoted.call('REPLICAOF', '127.0.0.1', String(replicaPort));
    // the primary counts it in step only once it has its first acknowledgement, a moment after
    // the replica says its link is up
    await eventually(
      async () =>
        /master_link_status:up/.test(await demoted.info('replication')) &&
        /^slave\d+:.*\bstate=online\b/m.test(await client(replica.socket).info('replication')),
      'the old primary following the new one, in step',
    );
    await checkReplicas(client(replica.socket), 1, logger);
    expect(warned).toHaveLength(1);
  });

  it('refuses a wait for replicas at least as long as the connection’s own timeout', () => {
    expect(() =>
      loadConfig({
        ...process.env,
        REDIS_WAIT_REPLICAS: '1',
        REDIS_REPLICA_WAIT_MS: '30000',
        REDIS_SOCKET_TIMEOUT_MS: '30000',
      }),
    ).toThrow(/REDIS_REPLICA_WAIT_MS: 30000 ms, not under REDIS_SOCKET_TIMEOUT_MS \(30000 ms\)/);
  });

  it('refuses to start with the settings REDIS_WAIT_REPLICAS replaced, naming it', () => {
    expect(() => loadConfig({ ...process.env, SEND_LEDGER_REPLICAS: '1', SCHEDULE_REPLICA_WAIT_MS: '500' })).toThrow(
      'invalid configuration:\n' +
        '  SEND_LEDGER_REPLICAS: no longer read; REDIS_WAIT_REPLICAS says it now, for every write that waits for replicas\n' +
        '  SCHEDULE_REPLICA_WAIT_MS: no longer read; REDIS_REPLICA_WAIT_MS says it now, for every write that waits for replicas',
    );
  });
});
