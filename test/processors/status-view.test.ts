import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { ViewStore } from '../../platform/view/store.ts';
import type { RecordContext } from '../../processors/runtime/stage.ts';
import { statusViewStage } from '../../processors/status-view/stage.ts';
import { heldValues } from '../../processors/runtime/deferral.ts';
import { stageWithReleaser } from '../support/in-process.ts';
import { watchStatuses } from '../support/collector.ts';
import { eventually, publish, sampleOrder, testRedis } from '../support/stack.ts';

describe('status-view', () => {
  const redis = testRedis();
  let view!: ViewStore;
  const harness = stageWithReleaser({
    label: 'status-view',
    keyPrefix: 'expiry:',
    name: 'notification-expiry',
    output: 'status',
    keyOf: (value: StatusEvent) => value.orderId,
    stage: ({ store, clock, prefix, codec }) => {
      view = new ViewStore(redis, prefix);
      return statusViewStage({ view, clock, expiry: { store, graceMs: 500, held: heldValues(codec, 'status') } });
    },
  });
  const { prefix, kafka, codec } = harness;
  const events: StatusEvent[] = [];
  let watch: Awaited<ReturnType<typeof watchStatuses>> | null = null;
  const wait = (predicate: () => boolean, what: string) => watch!.waitUntil(predicate, 20_000, what);
  const has = (orderId: string, status: StatusEvent['status']) =>
    events.some((e) => e.orderId === orderId && e.status === status);

  beforeAll(() =>
    harness.start(async () => {
      watch = await watchStatuses(kafka, codec, prefix, (v) => events.push(v), `${prefix}watch`);
    }),
  );
  afterAll(async () => {
    await watch?.stop();
    await harness.stop();
    redis.disconnect();
  });

  /** what the runtime tells a handler of the status record at `partition:offset` */
  const recordAt = (partition: number, offset: number) =>
    ({
      topic: 'status',
      partition,
      offset: String(offset),
      headers: {},
      logger: { info: () => undefined, warn: () => undefined },
    }) as unknown as RecordContext;
  const notification = (
    orderId: string,
    id: string,
    status: StatusEvent['status'],
    expiresAt: number | null = null,
  ): StatusEvent => ({
    ...orderStatus({ orderId, creator: 'ttd' }, status, Date.now()),
    notificationId: id,
    channel: status.startsWith('SMS') ? 'Sms' : 'Email',
    destination: status.startsWith('SMS') ? '+4799999999' : 'a@example.com',
    expiresAt,
  });
  const send = (...es: StatusEvent[]) =>
    publish(
      kafka,
      codec,
      prefix,
      'status',
      es.map((e) => ({ key: e.orderId, value: e })),
    );

  it('turns a notification still awaiting its report at expiry + grace into Failed_TTL, and completes the order', async () => {
    const order = randomUUID();
    const sms = randomUUID();
    const expiry = Date.now() + 1_000;
    await view.putOrder(sampleOrder(1, { orderId: order }));
    await send(
      orderStatus({ orderId: order, creator: 'ttd' }, 'Order_Processing', Date.now()),
      notification(order, sms, 'SMS_New', expiry),
      orderStatus({ orderId: order, creator: 'ttd' }, 'Order_Processed', Date.now()),
      notification(order, sms, 'SMS_Accepted'),
    );
    await wait(() => has(order, 'Order_Completed'), 'Order_Completed after Failed_TTL');
    const ttl = events.find((e) => e.orderId === order && e.status === 'SMS_Failed_TTL')!;
    expect(ttl).toMatchObject({ notificationId: sms, channel: 'Sms', destination: '+4799999999' });
    expect(ttl.occurredAt).toBeGreaterThanOrEqual(expiry + 500);
    await eventually(async () => (await view.get(order))?.status === 'Order_Completed', 'Completed in the view');
    const v = (await view.get(order))!;
    expect(v.status).toBe('Order_Completed');
    expect(v.notifications).toMatchObject([{ id: sms, status: 'SMS_Failed_TTL' }]);
    expect(v.feedSeq).not.toBeNull();
  });

  // The second: send-sms's batch commits its SMS_Accepted after the receipt tracker committed the
  // SMS_Delivered (a long batch: the SMSC down, or many SMS at its TPS); seen on 2026-12-04 with
  // the SMSC down for 30 s, when a check was scheduled all the same.
  it.each([
    ['delivered before its expiry', 'Email', ['Email_Succeeded', 'Email_Delivered']],
    ['whose Accepted comes after its delivery report', 'SMS', ['SMS_Delivered', 'SMS_Accepted']],
  ] as const)('leaves a notification %s alone: no Failed_TTL at its expiry', async (_, channel, after) => {
    const delivered = randomUUID();
    const id = randomUUID();
    const sentinel = randomUUID();
    const sentinelId = randomUUID();
    const expiry = Date.now() + 1_000;
    await view.putOrder(sampleOrder(2, { orderId: delivered }));
    await send(
      notification(delivered, id, `${channel}_New`, expiry),
      orderStatus({ orderId: delivered, creator: 'ttd' }, 'Order_Processed', Date.now()),
      ...after.map((status) => notification(delivered, id, status)),
      // a second order due for its expiry check a moment later: once its Failed_TTL is out,
      // the first one's check would have been released too, had there been one
      notification(sentinel, sentinelId, `${channel}_New`, expiry + 100),
      orderStatus({ orderId: sentinel, creator: 'ttd' }, 'Order_Processed', Date.now()),
    );
    await send(notification(sentinel, sentinelId, channel === 'SMS' ? 'SMS_Accepted' : 'Email_Succeeded'));
    await wait(() => has(delivered, 'Order_Completed'), 'the delivered order completed');
    await wait(() => has(sentinel, `${channel}_Failed_TTL`), "the sentinel's Failed_TTL");
    expect(has(delivered, `${channel}_Failed_TTL`)).toBe(false);
    expect(events.filter((e) => e.orderId === delivered && e.status === 'Order_Completed')).toHaveLength(1);
    expect((await view.get(delivered))?.notifications).toMatchObject([{ id, status: `${channel}_Delivered` }]);
  });

  it('emits Order_Completed again when the record that completed the order is handled again after an abort, and for no other record', async () => {
    const stage = statusViewStage({ view: new ViewStore(redis, `${prefix}replay.`), clock: Date.now });
    const at = (offset: number) => recordAt(0, offset);
    const order = randomUUID();
    const email = randomUUID();
    await stage.handle(notification(order, email, 'Email_New'), at(1));
    await stage.handle(orderStatus({ orderId: order, creator: 'ttd' }, 'Order_Processed', Date.now()), at(2));
    const delivered = notification(order, email, 'Email_Delivered');
    const first = await stage.handle(delivered, at(3));
    expect(first.kind).toBe('emit');
    // its transaction aborted (a broker or coordinator gone): the same record, handled again by
    // the same process, completes the order again; the aborted completion was never visible
    const again = await stage.handle(delivered, at(3));
    expect(again).toMatchObject({ kind: 'emit', records: [{ value: { orderId: order, status: 'Order_Completed' } }] });
    // a later event of the order (a duplicate report) does not complete it a second time
    const later = await stage.handle(notification(order, email, 'Email_Delivered'), at(4));
    expect(later.kind).toBe('skip');
  });

  it('applies a batch ahead in one round trip to the same outcomes as one by one, and a replay of one record agrees', async () => {
    const clock = () => 1_800_000_000_000;
    const ahead = statusViewStage({ view: new ViewStore(redis, `${prefix}ahead.`), clock });
    const oneByOne = statusViewStage({ view: new ViewStore(redis, `${prefix}onebyone.`), clock });
    const ctx = (offset: number) => recordAt(1, offset);
    const [a, b, ea, eb, sb] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const batch = [
      notification(a, ea, 'Email_New'),
      notification(b, eb, 'Email_New'),
      notification(b, sb, 'SMS_New'),
      orderStatus({ orderId: a, creator: 'ttd' }, 'Order_Processed', clock()),
      notification(a, ea, 'Email_Delivered'),
      orderStatus({ orderId: b, creator: 'ttd' }, 'Order_Processed', clock()),
      notification(b, eb, 'Email_Failed'),
      notification(b, sb, 'SMS_Delivered'),
      notification(a, ea, 'Email_Delivered'),
    ];
    const kinds = async (stage: typeof ahead, prepared: boolean) => {
      // (each stage its own copies: the stage keeps what it applied ahead by event object)
      const events = batch.map((e) => ({ ...e }));
      if (prepared)
        await stage.prepare!(
          events,
          events.map((_, i) => `status:1:${i}`),
        );
      const out: string[] = [];
      for (const [i, e] of events.entries()) {
        const o = await stage.handle(e, ctx(i));
        out.push(o.kind === 'emit' ? `emit ${(o.records[0]!.value as StatusEvent).status}` : o.kind);
      }
      return out;
    };
    const expected = await kinds(oneByOne, false);
    expect(expected.filter((k) => k === 'emit Order_Completed')).toHaveLength(2);
    expect(await kinds(ahead, true)).toEqual(expected);
    // the batch's transaction aborted, and the record that completed order b is read again alone
    // (no batch to prepare): it completes the order again, as the record the view remembers
    const completing = expected.indexOf('emit Order_Completed', expected.indexOf('emit Order_Completed') + 1);
    const replay = await ahead.handle({ ...batch[completing]! }, ctx(completing));
    expect(replay).toMatchObject({ kind: 'emit', records: [{ value: { orderId: b, status: 'Order_Completed' } }] });
  });

  describe('fallback on the delivery outcome (an extension)', () => {
    const clock = () => Date.now();
    const fresh = (label: string) => {
      const store = new ViewStore(redis, `${prefix}${label}.`);
      return { store, stage: statusViewStage({ view: store, clock }) };
    };
    const at = (offset: number) => recordAt(2, offset);
    const fallbackEmail = (id: string) => ({
      notificationId: id,
      channel: 'Email' as const,
      destination: 'kari@example.com',
      sender: 'noreply@altinn.cloud',
      subject: 'Hei',
      body: 'Hei Kari',
      html: false,
      sendingTimePolicy: 'Anytime' as const,
    });
    const statuses = (o: Awaited<ReturnType<ReturnType<typeof fresh>['stage']['handle']>>) =>
      o.kind === 'emit' ? o.records.map((r) => `${r.topic} ${(r.value as StatusEvent).status ?? r.key}`) : o.kind;

    it('sends once on the other channel when the preferred notification finally fails, again for the same record after an abort, and completes after it', async () => {
      const { store, stage } = fresh('fb1');
      const [order, sms, email] = [randomUUID(), randomUUID(), randomUUID()];
      const fallback = { group: 'r0', members: [sms], notifications: [fallbackEmail(email)] };
      await store.putOrder(sampleOrder(1, { orderId: order }));
      await stage.handle({ ...notification(order, sms, 'SMS_New'), fallback }, at(1));
      await stage.handle(orderStatus({ orderId: order, creator: 'ttd' }, 'Order_Processed', clock()), at(2));
      expect((await stage.handle(notification(order, sms, 'SMS_Accepted'), at(3))).kind).toBe('skip');
      const failure = notification(order, sms, 'SMS_Failed_Undelivered');
      const fired = await stage.handle(failure, at(4));
      expect(statuses(fired)).toEqual([`emailQueue ${email}`, 'status Email_New']);
      if (fired.kind !== 'emit') throw new Error('no records');
      expect(fired.records[0]!.value).toMatchObject({
        notificationId: email,
        orderId: order,
        toAddress: 'kari@example.com',
        fromAddress: 'noreply@altinn.cloud',
        subject: 'Hei',
        contentType: 'Plain',
      });
      const created = fired.records[1]!.value as StatusEvent;
      expect(created).toMatchObject({ notificationId: email, channel: 'Email', destination: 'kari@example.com' });
      expect(created.expiresAt! - created.occurredAt).toBe(48 * 3600_000);
      // the order is not complete: the fallback is pending
      expect((await store.get(order))!.notifications.map((n) => `${n.id} ${n.status}`).sort()).toEqual(
        [`${sms} SMS_Failed_Undelivered`, `${email} Email_New`].sort(),
      );
      // its transaction aborted: the same record fires it again, the same records; no other does
      expect(await stage.handle({ ...failure }, at(4))).toEqual(fired);
      expect((await stage.handle(notification(order, sms, 'SMS_Failed_Undelivered'), at(5))).kind).toBe('skip');
      // the fallback's own events; its delivery completes the order, and the group is dropped
      expect((await stage.handle(created, at(6))).kind).toBe('skip');
      expect((await stage.handle(notification(order, email, 'Email_Succeeded'), at(7))).kind).toBe('skip');
      expect(statuses(await stage.handle(notification(order, email, 'Email_Delivered'), at(8)))).toEqual([
        'status Order_Completed',
      ]);
      const fields = await redis.hkeys(`${prefix}fb1.view:o:{${order}}`);
      expect(fields.filter((f) => f.startsWith('~') || f.startsWith('!'))).toEqual([]);
      expect((await store.get(order))!.notifications).toHaveLength(2);
    });

    it('waits for every preferred notification of the recipient: none when one is delivered, once when all fail', async () => {
      const { stage } = fresh('fb2');
      const run = async (outcomes: StatusEvent['status'][]) => {
        const order = randomUUID();
        const members = outcomes.map(() => randomUUID());
        const fallback = { group: 'r0', members, notifications: [fallbackEmail(randomUUID())] };
        let offset = 0;
        for (const m of members) await stage.handle({ ...notification(order, m, 'Email_New'), fallback }, at(++offset));
        await stage.handle(orderStatus({ orderId: order, creator: 'ttd' }, 'Order_Processed', clock()), at(++offset));
        const out: string[] = [];
        for (const [i, m] of members.entries()) {
          const o = await stage.handle(notification(order, m, outcomes[i]!), at(++offset));
          out.push(o.kind === 'emit' ? String(statuses(o)) : o.kind);
        }
        return out;
      };
      expect(await run(['Email_Failed_Bounced', 'Email_Delivered'])).toEqual(['skip', 'status Order_Completed']);
      expect(await run(['Email_Delivered', 'Email_Failed_Bounced'])).toEqual(['skip', 'status Order_Completed']);
      expect(await run(['Email_Failed_Bounced', 'Email_Failed_TTL'])).toEqual([
        'skip',
        expect.stringMatching(/^emailQueue .*,status Email_New$/),
      ]);
    });
  });
});
