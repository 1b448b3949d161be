import { createHash, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { orderStatus } from '../../platform/status.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { createRedis } from '../../platform/redis/client.ts';
import { createLogger } from '../../platform/logger.ts';
import { freePort } from '../support/process.ts';
import { sampleOrder, testRedis, uniquePrefix } from '../support/stack.ts';

/**
 * A read Redis does not answer (here, nothing listens where the connection goes): ioredis's
 * pipeline puts each command's failure in its answers rather than failing, and the order's read
 * took it for no order, so the API answered 404 (a cancellation too, which a client does not try
 * again) while Redis failed over. It must fail as Redis unavailable: 503, tried again.
 */
describe('status view: a read Redis does not answer', () => {
  it('fails as Redis unavailable, never as no such order', async () => {
    const redis = createRedis({ url: `redis://127.0.0.1:${await freePort()}` }, createLogger({ level: 'silent' }));
    try {
      await expect(new ViewStore(redis, uniquePrefix('view-down')).get(randomUUID(), 'ttd')).rejects.toMatchObject({
        retriable: true,
        message: expect.stringContaining('status view (read order)'),
      });
    } finally {
      redis.disconnect();
    }
  });
});

/** The view's rebuild (`scripts/rebuild-views.ts`) starts from `clear()` (on the stack's Redis). */
describe('status view: clear for a rebuild', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it("deletes every key of the view's environment but the feed's sequence, and nothing of another's", async () => {
    const prefix = uniquePrefix('view-clear');
    const other = uniquePrefix('view-keep');
    const view = new ViewStore(redis, prefix);
    const kept = new ViewStore(redis, other);
    // more orders than one SCAN batch (1,000 keys asked for at a time)
    const orders = Array.from({ length: 700 }, (_, i) => sampleOrder(i, { sendersReference: `ref-${i % 7}` }));
    for (const o of orders) {
      await view.putOrder(o, { status: 'Order_Registered', at: Date.now() });
      await view.apply(
        { ...orderStatus(o, 'Email_New', Date.now()), notificationId: randomUUID(), channel: 'Email' },
        Date.now(),
      );
      await view.apply(orderStatus(o, 'Order_Completed', Date.now()), Date.now());
    }
    await kept.putOrder(orders[0]!);
    const before = await redis.keys(`${prefix}view:*`);
    expect(before.length).toBeGreaterThan(1_400);

    const removed = await view.clear();

    // kept: the feed's sequence and the monthly metrics (the orders' month: 2026-11)
    expect(removed).toBe(before.length - 2);
    expect((await redis.keys(`${prefix}view:*`)).sort()).toEqual([
      `${prefix}view:feedseq`,
      `${prefix}view:metrics:2026-11`,
    ]);
    expect(await redis.hget(`${prefix}view:metrics:2026-11`, 'o|ttd')).toBe('700');
    expect(await redis.get(`${prefix}view:feedseq`)).toBe('700');
    expect(await view.get(orders[0]!.orderId)).toBeNull();
    expect((await kept.get(orders[0]!.orderId))?.order.orderId).toBe(orders[0]!.orderId);
  });
});

/** The gateway records an instant order with putOrderAndApply: one round trip, the same view. */
describe('status view: an order and its events in one round trip', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it('leaves the view as putOrder and each apply awaited in turn do, and a second put changes nothing', async () => {
    const [one, turn] = [
      new ViewStore(redis, uniquePrefix('view-one')),
      new ViewStore(redis, uniquePrefix('view-turn')),
    ];
    const order = sampleOrder(1, { sendersReference: 'ref-1' });
    const at = Date.now();
    const events = [
      { ...orderStatus(order, 'Email_New', at), notificationId: randomUUID(), channel: 'Email' as const },
      orderStatus(order, 'Order_Processed', at + 1),
    ];
    const first = await one.putOrderAndApply(order, { status: 'Order_Processed', at }, events, at);
    await turn.putOrder(order, { status: 'Order_Processed', at });
    const inTurn = [];
    for (const e of events) inTurn.push(await turn.apply(e, at));

    expect(first.fresh).toBe(true);
    expect(first.applied).toEqual(inTurn);
    const viewed = await one.get(order.orderId);
    expect(viewed?.notifications.map((n) => n.status)).toEqual(['Email_New']);
    expect(viewed).toEqual(await turn.get(order.orderId));
    expect(await one.bySendersReference(order.creator, 'ref-1')).toEqual(
      await turn.bySendersReference(order.creator, 'ref-1'),
    );

    const again = await one.putOrderAndApply(order, { status: 'Order_Registered', at: at + 5 }, [], at + 5);
    expect(again).toEqual({ fresh: false, applied: [] });
    expect((await one.get(order.orderId))?.status).toBe(viewed?.status);
  });
});

/** The support dashboard's index (`ViewStore.dashboard`), written as events are applied. */
describe('status view: the support dashboard index', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());
  const bucketOf = (kind: string, v: string) =>
    createHash('sha256').update(`${kind}:${v}`).digest().subarray(0, 2).toString('hex');
  /** another 11-digit number in the same bucket as `nin` (one in 65,536 is) */
  const neighbour = (nin: string) => {
    for (let n = 10_000_000_000; ; n++) {
      const other = String(n);
      if (other !== nin && bucketOf('nin', other) === bucketOf('nin', nin)) return other;
    }
  };
  const created = (
    order: ReturnType<typeof sampleOrder>,
    o: {
      nin?: string | null;
      org?: string | null;
      at: number;
      status?: 'Email_New' | 'Email_Failed_RecipientReserved';
    },
  ) => ({
    ...orderStatus(order, o.status ?? 'Email_New', o.at),
    notificationId: randomUUID(),
    channel: 'Email' as const,
    destination: o.status ? null : `${order.orderId.slice(0, 8)}@example.com`,
    recipientNationalIdentityNumber: o.nin ?? null,
    recipientOrganizationNumber: o.org ?? null,
    requestedSendTime: order.requestedSendTime,
  });

  it("finds a number's notifications in its window, tells a bucket's numbers apart, and writes no number in Redis", async () => {
    const prefix = uniquePrefix('view-dash');
    const view = new ViewStore(redis, prefix);
    const now = Date.now();
    const nin = '01017012345';
    const other = neighbour(nin);
    const orders = [0, 1, 2].map((i) =>
      sampleOrder(i, { requestedSendTime: now - (3 - i) * 3600_000, creator: `c${i}` }),
    );
    const events = [
      created(orders[0]!, { nin, at: now }),
      created(orders[1]!, { nin: other, at: now }),
      // an organisation's contact: under both numbers
      created(orders[2]!, { nin, org: '910000001', at: now }),
      created(orders[2]!, { org: '910000001', at: now }),
    ];
    for (const o of orders) await view.putOrder(o);
    // applied twice (a replay): one entry each
    for (const _round of [1, 2])
      await view.applyAll(
        events.map((event) => ({ event, source: '' })),
        now,
      );

    const found = await view.dashboard('nin', nin, now - 24 * 3600_000, now);
    expect(found.map((e) => [e.view.order.orderId, e.notifications.map((n) => n.id)])).toEqual([
      [orders[2]!.orderId, [events[2]!.notificationId]],
      [orders[0]!.orderId, [events[0]!.notificationId]],
    ]);
    expect((await view.dashboard('nin', other, now - 24 * 3600_000, now)).map((e) => e.view.order.orderId)).toEqual([
      orders[1]!.orderId,
    ]);
    const org = await view.dashboard('org', '910000001', now - 24 * 3600_000, now);
    expect(org.map((e) => e.notifications.map((n) => n.id).sort())).toEqual([
      [events[2]!.notificationId, events[3]!.notificationId].sort(),
    ]);
    // [from, to): the first order's send time is in one window and not the next
    const t0 = orders[0]!.requestedSendTime;
    expect((await view.dashboard('nin', nin, t0, t0 + 1)).length).toBe(1);
    expect((await view.dashboard('nin', nin, t0 - 1, t0)).length).toBe(0);
    // one member per notification and number, whatever the replays; no number in a key or member
    const keys = await redis.keys(`${prefix}view:dash:*`);
    expect(keys.sort()).toEqual(
      [`${prefix}view:dash:n:${bucketOf('nin', nin)}`, `${prefix}view:dash:o:${bucketOf('org', '910000001')}`].sort(),
    );
    const members = await redis.zrangeBuffer(`${prefix}view:dash:n:${bucketOf('nin', nin)}`, 0, -1);
    expect(members.length).toBe(3);
    for (const m of members) expect(m.includes(nin) || m.includes(other)).toBe(false);
    // an order the view no longer keeps is left out
    await redis.del(`${prefix}view:o:{${orders[0]!.orderId}}`);
    expect((await view.dashboard('nin', nin, now - 24 * 3600_000, now)).map((e) => e.view.order.orderId)).toEqual([
      orders[2]!.orderId,
    ]);
  });

  it("shows a recipient's fallback notification once it has fired, under the recipient's number", async () => {
    const view = new ViewStore(redis, uniquePrefix('view-dash-fallback'));
    const now = Date.now();
    const nin = '01017012345';
    const order = sampleOrder(1, { requestedSendTime: now - 60_000 });
    const smsId = randomUUID();
    const emailId = randomUUID();
    await view.putOrder(order);
    const sms = {
      ...orderStatus(order, 'SMS_New', now),
      notificationId: smsId,
      channel: 'Sms' as const,
      destination: '+4799999999',
      recipientNationalIdentityNumber: nin,
      requestedSendTime: order.requestedSendTime,
      fallback: {
        group: 'g1',
        members: [smsId],
        notifications: [
          {
            notificationId: emailId,
            channel: 'Email' as const,
            destination: 'p@example.com',
            sender: 'noreply@example.com',
            subject: 'S',
            body: 'B',
            html: false,
            sendingTimePolicy: 'Anytime' as const,
          },
        ],
      },
    };
    const window = [now - 24 * 3600_000, now] as const;
    await view.applyAll([{ event: sms, source: '' }], now);
    // not fired: the email is not the order's yet, so not shown
    expect((await view.dashboard('nin', nin, ...window)).map((e) => e.notifications.map((n) => n.id))).toEqual([
      [smsId],
    ]);
    const [fired] = await view.applyAll(
      [{ event: { ...orderStatus(order, 'SMS_Failed_Undelivered', now + 1), notificationId: smsId }, source: 'p:1' }],
      now + 1,
    );
    expect(fired).toMatchObject({ result: 'fallback' });
    const shown = await view.dashboard('nin', nin, ...window);
    expect(shown.map((e) => e.notifications.map((n) => [n.id, n.status]).sort())).toEqual([
      [
        [smsId, 'SMS_Failed_Undelivered'],
        [emailId, 'Email_New'],
      ].sort(),
    ]);
  });

  it('trims entries older than the retention as a bucket is written, and lets an unwritten bucket expire', async () => {
    const prefix = uniquePrefix('view-dash-trim');
    const retention = 60_000;
    const view = new ViewStore(redis, prefix, retention);
    const now = Date.now();
    const week = 7 * 24 * 3600_000;
    const old = sampleOrder(1, { requestedSendTime: now - retention - week - 1000 });
    const fresh = sampleOrder(2, { requestedSendTime: now });
    await view.applyAll([{ event: created(old, { nin: '01017012345', at: now }), source: '' }], now);
    const key = `${prefix}view:dash:n:${bucketOf('nin', '01017012345')}`;
    // (written, then trimmed at once: older than retention and a week)
    expect(await redis.zcard(key)).toBe(0);
    await view.applyAll([{ event: created(fresh, { nin: '01017012345', at: now }), source: '' }], now);
    expect(await redis.zcard(key)).toBe(1);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(retention + week - 5_000);
    expect(ttl).toBeLessThanOrEqual(retention + week);
  });
});

/** The monthly metrics (`ViewStore.monthlyMetrics`, the reference's get_metrics_v2), counted as the view is written. */
describe('status view: the monthly metrics', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it('counts orders, notifications, SMS messages and the succeeded by month and creator, once whatever the replays', async () => {
    const prefix = uniquePrefix('view-metrics');
    const view = new ViewStore(redis, prefix);
    // the last hour of November in UTC (in Oslo already December): November's
    const november = Date.UTC(2026, 10, 30, 23, 30);
    const longSms = { senderNumber: 'Altinn', body: 'a'.repeat(200) }; // 2 messages
    const a = sampleOrder(1, { creator: 'c1', requestedSendTime: november, smsTemplate: longSms });
    const b = sampleOrder(2, { creator: 'c2', requestedSendTime: Date.UTC(2026, 11, 1) });
    const [e1, e2, s1, s2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const ev = (notificationId: string, status: StatusEvent['status'], creating = false): StatusEvent => ({
      ...orderStatus(a, status, november),
      notificationId,
      channel: status.startsWith('SMS') ? 'Sms' : 'Email',
      ...(creating ? { requestedSendTime: november, smsCount: 2 } : {}),
    });
    const events = [
      ev(e1, 'Email_New', true),
      ev(e2, 'Email_New', true),
      ev(s1, 'SMS_New', true),
      ev(s2, 'SMS_Failed_RecipientReserved', true),
      ev(e1, 'Email_Succeeded'),
      ev(e1, 'Email_Delivered'),
      ev(e2, 'Email_Succeeded'),
      ev(e2, 'Email_Failed_TTL'),
      ev(s1, 'SMS_Accepted'),
      ev(s1, 'SMS_Delivered'),
    ];
    for (const _round of [1, 2]) {
      await view.putOrder(a);
      await view.putOrder(b);
      await view.applyAll(
        events.map((event) => ({ event, source: '' })),
        november,
      );
    }
    expect(await view.monthlyMetrics(11, 2026)).toEqual({
      month: 11,
      year: 2026,
      metrics: [
        {
          org: 'c1',
          ordersCreated: 1,
          emailNotificationsCreated: 2,
          successfulEmailNotifications: 1,
          smsNotificationsCreated: 4,
          successfulSmsNotifications: 1,
        },
      ],
    });
    expect((await view.monthlyMetrics(12, 2026)).metrics).toEqual([
      {
        org: 'c2',
        ordersCreated: 1,
        emailNotificationsCreated: 0,
        successfulEmailNotifications: 0,
        smsNotificationsCreated: 0,
        successfulSmsNotifications: 0,
      },
    ]);
    expect((await view.monthlyMetrics(10, 2026)).metrics).toEqual([]);
    // a rebuild writes without counting
    const rebuilding = new ViewStore(redis, prefix, undefined, false);
    await rebuilding.clear();
    await rebuilding.putOrder(a);
    await rebuilding.applyAll(
      events.map((event) => ({ event, source: '' })),
      november,
    );
    expect((await view.monthlyMetrics(11, 2026)).metrics[0]).toMatchObject({
      ordersCreated: 1,
      smsNotificationsCreated: 4,
    });
    // kept for years
    expect(await redis.pttl(`${prefix}view:metrics:2026-11`)).toBeGreaterThan(6 * 365 * 24 * 3600_000);
  });

  it('does not count an order the pipeline refused (Order_Rejected), whichever the view writes first', async () => {
    const view = new ViewStore(redis, uniquePrefix('view-metrics-rejected'));
    const at = Date.UTC(2026, 11, 5, 12);
    const [first, after, kept] = [1, 2, 3].map((i) => sampleOrder(i, { creator: 'c4', requestedSendTime: at }));
    const rejected = (o: typeof first) => orderStatus(o!, 'Order_Rejected', at, 'order breaks the rules');
    // put, then refused; refused, then put (status-view ahead of order-view); and one kept
    await view.putOrder(first!);
    for (const _round of [1, 2]) await view.apply(rejected(first), at);
    await view.apply(rejected(after), at);
    await view.putOrder(after!);
    await view.putOrder(kept!);
    expect((await view.monthlyMetrics(12, 2026)).metrics).toEqual([
      expect.objectContaining({ org: 'c4', ordersCreated: 1 }),
    ]);
  });

  it("counts a fallback once it fires, its SMS by what one of the order's SMS counts for", async () => {
    const prefix = uniquePrefix('view-metrics-fallback');
    const view = new ViewStore(redis, prefix);
    const at = Date.UTC(2026, 11, 5, 12);
    const order = sampleOrder(1, { creator: 'c3', requestedSendTime: at });
    const [email, sms] = [randomUUID(), randomUUID()];
    await view.putOrder(order);
    const [fired] = await view
      .applyAll(
        [
          {
            event: {
              ...orderStatus(order, 'Email_New', at),
              notificationId: email,
              channel: 'Email',
              requestedSendTime: at,
              smsCount: 3,
              fallback: {
                group: 'g',
                members: [email],
                notifications: [
                  {
                    notificationId: sms,
                    channel: 'Sms',
                    destination: '+4799999999',
                    sender: 'Altinn',
                    subject: null,
                    body: 'B',
                    html: false,
                    sendingTimePolicy: 'Anytime',
                  },
                ],
              },
            },
            source: '',
          },
          { event: { ...orderStatus(order, 'Email_Failed_Bounced', at), notificationId: email }, source: 'p:1' },
        ],
        at,
      )
      .then((r) => r.slice(1));
    expect(fired).toMatchObject({ result: 'fallback' });
    expect((await view.monthlyMetrics(12, 2026)).metrics).toEqual([
      {
        org: 'c3',
        ordersCreated: 1,
        emailNotificationsCreated: 1,
        successfulEmailNotifications: 0,
        smsNotificationsCreated: 3,
        successfulSmsNotifications: 0,
      },
    ]);
  });
});
