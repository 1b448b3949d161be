import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { loadConfig } from '../../platform/config.ts';
import { createRedis, redisConnection, type Redis } from '../../platform/redis/client.ts';
import { ViewStore } from '../../platform/view/store.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { mintToken } from '../../gateway/local-tokens.ts';
import { startNodeProcess, startStageProcess, type StageProcess } from '../support/process.ts';
import { failoverSet } from '../support/redis-server.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import {
  eventually,
  GATEWAY_LISTENING,
  gatewayEnv,
  produceOrders,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
  until,
} from '../support/stack.ts';
import { createLogger } from '../../platform/logger.ts';

const ORDERS = 600;
/** how long the replica is frozen before the primary dies, ms */
const LAG_MS = 3_000;
/** orders posted to the gateway a second from the replica's freeze until the failover is over */
const POST_RATE = 20;
/** orders a day ahead, posted before and cancelled through the gateway while Redis fails over */
const CANCELS = 20;
/** how long a client tries an order or a cancellation again (same idempotencyId), ms */
const PATIENCE_MS = 90_000;

const tally = (values: Iterable<string>) => {
  const t: Record<string, number> = {};
  for (const v of values) t[v] = (t[v] ?? 0) + 1;
  return t;
};

/**
 * What REDIS_WAIT_REPLICAS is for, under load: Redis behind Sentinel (a primary, its replica, a
 * sentinel: `failoverSet`), the chain from the orders topic to the SMTP sink in one stage process
 * with REDIS_WAIT_REPLICAS=1, and the primary SIGKILLed while orders stream through. The sentinel
 * promotes the replica; the old primary, started again, comes back as the new one's replica (until
 * then no write has a replica to wait for, and the stages' writes wait and are tried again).
 * Every order must be emailed exactly once and be in the view with its notification's last
 * status: no claim, scheduled item or view write the stages went on with was lost with the primary.
 * A gateway behind the same sentinel takes orders (email and SMS, every other one) and
 * cancellations meanwhile, its clients trying again on an error with the same idempotencyId:
 * every order it acknowledged is handed over once (at the SMTP sink, at the SMSC simulator), each
 * SMS reported delivered (its receipt matched), and every cancellation it answered 200 is still
 * in the new primary's schedule (never released).
 * REDIS_FAILOVER_WAIT_REPLICAS=0 runs the same without the wait, to see what it prevents (a run
 * of 2026-12-07: 300 orders missing from the view, 250 notifications' statuses behind).
 * The servers run append-only, as production's must: with a primary started again empty, the
 * sentinel once failed back to it a second after the first failover (the new primary missed its
 * pings on this busy machine) and the resync wiped the data.
 */
describe('a Redis failover (Sentinel) under load, with REDIS_WAIT_REPLICAS=1', async () => {
  const set = await failoverSet(undefined, { appendOnly: true });
  const prefix = uniquePrefix('redis-fo');
  const config = testConfig(prefix);
  const { kafka, codec } = testClients(config);
  const quiet = createLogger({ level: 'silent', name: 'redis' });
  const direct = (port: number): Redis => createRedis({ url: `redis://127.0.0.1:${port}` }, quiet);
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  let proc: StageProcess | null = null;
  let gateway: ReturnType<typeof startNodeProcess> | null = null;
  let gatewayUrl = '';
  let token = '';
  let watcher: Redis;
  const notifications = new Map<string, string>();
  /** the SMS reported delivered (its receipt matched): a report may come before its Accepted */
  const delivered = new Set<string>();
  const smscSystemId = `fo-${prefix.slice(-8)}`;
  const pokes = new Set<() => void>();
  let statusConsumer: { stop(): Promise<void> } | null = null;

  beforeAll(async () => {
    ({ watcher } = await set.start(direct));
    sink = await startSmtpSink();
    await provision(kafka, codec, config);
    statusConsumer = await kafka.collect({
      groupId: `${prefix}statuses`,
      topics: [topicName(prefix, 'status')],
      onRecord: (r) =>
        void codec.decode('status', r.value).then((e: StatusEvent) => {
          if (e.notificationId) notifications.set(e.notificationId, e.status);
          if (e.notificationId && e.status === 'SMS_Delivered') delivered.add(e.notificationId);
          for (const p of pokes) p();
        }),
    });
    const stages = ['scheduler', 'prepare-notifications', 'schedule-window', 'send-email', 'send-sms'];
    proc = startStageProcess([...stages, 'order-view', 'status-view'], {
      ...stageEnv(config),
      REGISTRY_URL: stackEnv().REGISTRY_URL,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sink.port),
      SMSC_HOST: stackEnv().SMSC_HOST,
      SMSC_PORT: stackEnv().SMSC_PORT,
      SMPP_SYSTEM_ID: smscSystemId,
      SMPP_PASSWORD: 'secret',
      SMPP_TPS: '5000',
      SMPP_WINDOW: '10',
      SCHEDULER_POLL_MS: '50',
      REDIS_URL: 'redis://pipeline',
      REDIS_SENTINELS: `127.0.0.1:${set.sentinelPort}`,
      REDIS_WAIT_REPLICAS: process.env.REDIS_FAILOVER_WAIT_REPLICAS ?? '1',
    });
    gateway = startNodeProcess(
      'gateway/main.ts',
      {
        ...gatewayEnv(config),
        RATE_LIMIT_PER_SECOND: '1000000',
        REDIS_URL: 'redis://pipeline',
        REDIS_SENTINELS: `127.0.0.1:${set.sentinelPort}`,
        REDIS_WAIT_REPLICAS: process.env.REDIS_FAILOVER_WAIT_REPLICAS ?? '1',
      },
      GATEWAY_LISTENING,
      process.env.REDIS_FAILOVER_DEBUG ? { logFile: `${process.env.REDIS_FAILOVER_DEBUG}-gateway.log` } : {},
    );
    gatewayUrl = `http://127.0.0.1:${await gateway.ready}/notifications/api/v1`;
    token = await mintToken(readFileSync(process.env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
      org: 'ttd',
      scope: 'altinn:serviceowner/notifications.create',
    });
    await proc.running;
  }, 120_000);

  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    proc?.child.kill('SIGKILL');
    await statusConsumer?.stop();
    await kafka.close();
    await sink?.close();
  });

  it(
    'hands every order over exactly once, matches every SMS receipt, holds every cancellation, and loses no view write',
    { timeout: 300_000 },
    async () => {
      const orders = topicName(prefix, 'orders');
      const email = (i: number) => ({
        requestedSendTime: Date.now(),
        created: Date.now(),
        recipients: [
          {
            nationalIdentityNumber: null,
            organizationNumber: null,
            externalIdentity: null,
            emailAddress: `fo-${i}@example.com`,
            mobileNumber: null,
            isReserved: null,
          },
        ],
      });
      const addresses = Array.from({ length: ORDERS }, (_, i) => `fo-${i}@example.com`);

      // The gateway's clients: an order or a cancellation tried again on any error but a refusal
      // (4xx but 409 "still being registered"), with the same idempotencyId, for PATIENCE_MS
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const refused: string[] = [];
      /** the answers other than 2xx the clients were given, by status */
      const answered: Record<string, number> = {};
      const call = async (what: string, method: string, path: string, body?: unknown) => {
        const first = Date.now();
        const tries: string[] = [];
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await fetch(`${gatewayUrl}${path}`, {
              method,
              headers,
              ...(body === undefined ? {} : { body: JSON.stringify(body) }),
              signal: AbortSignal.timeout(15_000),
            });
            const answer = (await res.json().catch(() => null)) as Record<string, unknown> | null;
            if (res.status < 300) return answer;
            tries.push(`${res.status} after ${Date.now() - first} ms: ${JSON.stringify(answer).slice(0, 200)}`);
            answered[res.status] = (answered[res.status] ?? 0) + 1;
            // (a 409 for an idempotencyId still being registered asks to be tried again; none is
            // expected: a claim whose replicas' wait was refused is given back, on the promoted
            // replica too, and a client here sends one request for a key at a time)
            const registering = res.status === 409 && /still being registered/.test(String(answer?.detail));
            if (res.status < 500 && !registering) break;
          } catch (err) {
            tries.push((err as Error).name);
          }
          if (Date.now() - first > PATIENCE_MS) break;
          await sleep(Math.min(2_000, 50 * 2 ** attempt));
        }
        refused.push(`${what}: ${tries.join('; ')}`);
        return null;
      };
      const postEmail = (idempotencyId: string, emailAddress: string, requestedSendTime?: string) =>
        call(`order ${idempotencyId}`, 'POST', '/future/orders', {
          idempotencyId,
          ...(requestedSendTime ? { requestedSendTime } : {}),
          recipient: {
            recipientEmail: {
              emailAddress,
              emailSettings: {
                subject: 'failover',
                body: idempotencyId,
                contentType: 'Plain',
                sendingTimePolicy: 'Anytime',
              },
            },
          },
        });
      const postSms = (idempotencyId: string, phoneNumber: string) =>
        call(`order ${idempotencyId}`, 'POST', '/future/orders', {
          idempotencyId,
          recipient: {
            recipientSms: { phoneNumber, smsSettings: { body: idempotencyId, sendingTimePolicy: 'Anytime' } },
          },
        });
      const tomorrow = new Date(Date.now() + 24 * 3_600_000).toISOString();
      const toCancel: string[] = [];
      for (let i = 0; i < CANCELS; i++) {
        const answer = await postEmail(`${prefix}later-${i}`, `later-${i}@example.com`, tomorrow);
        if (answer) toCancel.push((answer.notification as { shipmentId: string }).shipmentId);
      }
      expect(refused).toEqual([]);
      // the first half, then the primary's SIGKILL once a third of the orders are emailed, the
      // second half streamed in while the sentinel fails over
      await produceOrders(kafka, codec, orders, ORDERS / 2, 50, email);
      await sink.until(() => sink.perRecipient.size >= ORDERS / 3, 120_000, 'a third of the orders emailed');
      // The replica falls behind (frozen for LAG_MS and cut off, as one under load or across a slow link does):
      // what the primary takes meanwhile reaches no replica. Then the primary dies, the replica
      // comes back, and the sentinel promotes it: those writes are gone. With the wait, the stages
      // went on from none of them; without it (REDIS_WAIT_REPLICAS=0), orders and statuses written
      // to the view in that time are missing from it for good, and a claim lost with the primary
      // lets a record handled again hand its email over again.
      const second = produceOrders(kafka, codec, orders, ORDERS, 50, email, ORDERS / 2);
      // the gateway's clients, from the replica's freeze until the failover is over: orders, and
      // the cancellations one by one
      let failingOver = true;
      // every other one an SMS: its receipt is acknowledged to the SMSC only once a replica holds
      // its mark (or the receipt itself, parked), else the SMS would stay Accepted for good
      const posted: Promise<{ email?: string; sms?: string } | null>[] = [];
      const posting = (async () => {
        for (let i = 0; failingOver; i++) {
          const id = `${prefix}gw-${i}`;
          const to = i % 2 === 0 ? { email: `gw-${i}@example.com` } : { sms: `+4790${String(i).padStart(6, '0')}` };
          const answer = to.email ? postEmail(id, to.email) : postSms(id, to.sms!);
          posted.push(answer.then((a) => (a ? to : null)));
          await sleep(1000 / POST_RATE);
        }
      })();
      const cancelled: string[] = [];
      const cancelling = (async () => {
        for (const id of toCancel) {
          if ((await call(`cancellation of ${id}`, 'PUT', `/orders/${id}/cancel`)) !== null) cancelled.push(id);
          await sleep(300);
        }
      })();
      set.replica.signal('SIGSTOP');
      // (its link dropped too: what the primary sent before its death would otherwise wait in the
      // frozen replica's socket buffer, and be read as it resumes)
      const old = direct(set.primaryPort);
      await old.call('CLIENT', 'KILL', 'TYPE', 'replica');
      old.disconnect();
      const atLag = sink.perRecipient.size;
      await new Promise((r) => setTimeout(r, LAG_MS));
      const atKill = sink.perRecipient.size;
      await set.primary.kill();
      set.replica.signal('SIGCONT');
      await eventually(
        async () =>
          ((await watcher.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'pipeline')) as string[])[1] ===
          String(set.replicaPort),
        'the sentinel to promote the replica',
        60_000,
      );
      // the old primary comes back; the sentinel makes it the new primary's replica
      await set.primary.start();
      await eventually(
        async () =>
          ((await watcher.call('SENTINEL', 'REPLICAS', 'pipeline')) as string[][]).some(
            (r) => r.join(' ').includes(`${set.primaryPort}`) && /master-link-status ok/.test(r.join(' ')),
          ),
        'the old primary in step as the new one’s replica',
        60_000,
      );
      await second;
      failingOver = false;
      await posting;
      await cancelling;
      const acknowledged = (await Promise.all(posted)).filter((a) => a !== null);
      expect(refused).toEqual([]);
      addresses.push(...acknowledged.flatMap((a) => (a.email ? [a.email] : [])));
      const numbers = acknowledged.flatMap((a) => (a.sms ? [a.sms] : []));

      const reported = () => {
        if (notifications.size < addresses.length + numbers.length) return false;
        for (const [id, st] of notifications)
          if (st === 'Email_New' || st === 'Email_Sending' || (st.startsWith('SMS_') && !delivered.has(id)))
            return false;
        return true;
      };
      try {
        await sink.untilAll(addresses, sink.perRecipient, 180_000, 'every order emailed');
        const done = until(reported, 120_000, 'every notification reported');
        pokes.add(done.poke);
        await done.done;
      } catch (err) {
        const lines = proc!
          .output()
          .split('\n')
          .filter((l) => /"level":(40|50|60)/.test(l));
        console.log(lines.slice(-200).join('\n').slice(-40_000));
        console.log(
          `emailed ${sink.perRecipient.size} of ${addresses.length}; SMS delivered ${delivered.size} of ${numbers.length}; notifications: ${JSON.stringify(tally(notifications.values()))}`,
        );
        // REDIS_FAILOVER_DUMP=<file>: the stage process's whole output, for a closer look
        if (process.env.REDIS_FAILOVER_DUMP) writeFileSync(process.env.REDIS_FAILOVER_DUMP, proc!.output());
        throw err;
      }
      // Every order and every status the stages went on from reaches the view on the new primary
      // (once the view stages have caught up): each order is there, and each notification shows the
      // last status its topic carries. A write lost with the primary would never come.
      const ids = new Set<string>();
      await kafka.readSince(orders, 0, (r) => void ids.add(r.key!.toString()));
      const onPrimary = createRedis(
        redisConnection(
          loadConfig({
            ...process.env,
            REDIS_URL: 'redis://pipeline',
            REDIS_SENTINELS: `127.0.0.1:${set.sentinelPort}`,
          }),
        ),
        quiet,
      );
      let missing: string[] = [];
      let behind: string[] = [];
      /** a notification's last status (an SMS delivered is Delivered, whichever came last on the topic) */
      const lastOf = (id: string) => (delivered.has(id) ? 'SMS_Delivered' : notifications.get(id));
      const unCancelled: string[] = [];
      try {
        // every cancellation answered 200 holds on the new primary: out of the schedule, for good
        for (const id of cancelled) {
          const outcome = await onPrimary.hget(`${prefix}orders:{schedule}:outcome`, id);
          const due = await onPrimary.zscore(`${prefix}orders:{schedule}:due`, id);
          if (outcome !== 'cancelled' || due !== null) unCancelled.push(`${id}: ${outcome}, due ${due}`);
        }
        const view = new ViewStore(onPrimary, prefix);
        const look = async () => {
          [missing, behind] = [[], []];
          for (const id of ids) {
            const v = await view.get(id);
            if (!v) missing.push(id);
            else
              for (const n of v.notifications)
                if (lastOf(n.id) !== n.status) behind.push(`${n.id}: ${n.status}, not ${lastOf(n.id)}`);
          }
          return missing.length === 0 && behind.length === 0;
        };
        await eventually(look, 'the view to hold every order and status', 120_000).catch(() => {
          if (process.env.REDIS_FAILOVER_DUMP) writeFileSync(process.env.REDIS_FAILOVER_DUMP, proc!.output());
        });
      } finally {
        onPrimary.disconnect();
      }
      // REDIS_FAILOVER_DEBUG=<path prefix>: the sentinel's and the servers' logs, for a closer look
      if (process.env.REDIS_FAILOVER_DEBUG)
        for (const [name, server] of Object.entries({
          sentinel: set.sentinel,
          primary: set.primary,
          replica: set.replica,
        }))
          writeFileSync(`${process.env.REDIS_FAILOVER_DEBUG}-${name}.log`, server.output());
      const failovers = (set.sentinel.output().match(/\+switch-master/g) ?? []).length;
      const twice = [...sink.perRecipient].filter(([, n]) => n > 1);
      // counted at the SMSC: each SMS submitted once
      const submits = (await (
        await fetch(`${stackEnv().SMSC_CONTROL_URL}/messages?systemId=${smscSystemId}`)
      ).json()) as { destAddr: string }[];
      const perNumber = tally(submits.map((m) => m.destAddr));
      const smsTwice = Object.entries(perNumber).filter(([, n]) => n > 1);
      console.log(
        `Redis failover under load: ${ids.size} orders, ${atLag} emailed before the replica froze, ${atKill} before the primary's SIGKILL, ` +
          `${sink.perRecipient.size} emailed, ${twice.length} twice; ${Object.keys(perNumber).length} SMS submitted, ` +
          `${smsTwice.length} twice, ${delivered.size} delivered; through the gateway: ${posted.length} posted, ` +
          `${acknowledged.length} acknowledged (${numbers.length} SMS), ${cancelled.length} of ${CANCELS} cancelled, ${unCancelled.length} not held, ` +
          `answered on the way ${JSON.stringify(answered)}; notifications: ` +
          `${JSON.stringify(tally(notifications.values()))}; views: ${missing.length} missing, ${behind.length} behind; ` +
          `failovers: ${failovers}`,
      );
      expect(acknowledged.length).toBe(posted.length);
      // no key held past a refused claim (each 409 is a wait of IDEMPOTENCY_WAIT_MS behind one)
      expect(answered[409] ?? 0).toBe(0);
      expect(cancelled).toHaveLength(CANCELS);
      expect(unCancelled).toEqual([]);
      expect(ids.size).toBe(ORDERS + acknowledged.length + CANCELS);
      expect(twice).toEqual([]);
      expect(sink.perRecipient.size).toBe(addresses.length);
      expect(smsTwice).toEqual([]);
      expect(Object.keys(perNumber)).toHaveLength(numbers.length);
      expect(delivered.size).toBe(numbers.length);
      expect(missing).toEqual([]);
      expect(behind).toEqual([]);
    },
  );
});
