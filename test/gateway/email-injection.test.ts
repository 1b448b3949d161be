import { randomUUID } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { EMAIL_CORPUS } from '../support/email-corpus.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { watchStatuses } from '../support/collector.ts';
import { publish, sampleOrder, stackEnv, stageEnv } from '../support/stack.ts';

const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');
/** one form for a mailbox: nodemailer writes the domain in punycode, smtp-server reads it back */
const onTheWire = (address: string) => {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1).toLowerCase())}`;
};
const FINAL = new Set<StatusEvent['status']>(['Email_Succeeded', 'Email_Failed_InvalidFormat', 'Email_Failed']);

/**
 * Issue 12, item 1: one notification goes to exactly its one validated address. Every corpus
 * address is ordered through v1, v2 (main order and a reminder), instant email, a direct
 * producer's record and a registry's contact point; the real chain sends what it sends to a real
 * SMTP server, which records each message's envelope and To header.
 */
describe('one email goes to one address, whoever wrote it', () => {
  const env = stackEnv();
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  const statuses: StatusEvent[] = [];
  let watch: Awaited<ReturnType<typeof watchStatuses>> | null = null;
  /** orderId → the corpus address it was ordered to, and how */
  const ordered = new Map<string, { address: string; single: boolean; path: string }>();
  const registryNins: { nin: string; address: string; single: boolean }[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink();
    for (const c of EMAIL_CORPUS.filter((c) => c.address !== '')) {
      registryNins.push({ nin: digits(11), address: c.address, single: c.single });
    }
    const seeded = await fetch(`${env.REGISTRY_URL}/admin/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        persons: registryNins.map((p) => ({
          nationalIdentityNumber: p.nin,
          name: 'Reg',
          email: p.address,
          mobileNumber: null,
        })),
      }),
    });
    expect(seeded.status).toBe(200);
    g = await startTestGateway('inject');
    watch = await watchStatuses(g.kafka, g.codec, g.prefix, (v) => statuses.push(v), `${g.prefix}inject-status`);
    proc = startStageProcess(
      ['scheduler', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'send-email'],
      {
        ...stageEnv(g.config),
        REGISTRY_URL: env.REGISTRY_URL,
        SCHEDULER_POLL_MS: '50',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(sink.port),
        SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
        SMTP_POOL_SIZE: '2',
      },
    );
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await watch?.stop();
    await sink?.close();
    await g?.close();
  });

  it('sends each single mailbox once to itself alone, and nothing for any other address', async () => {
    const apiCorpus = EMAIL_CORPUS.filter((c) => c.api);
    for (const c of apiCorpus) {
      const settings = { subject: `to ${c.name}`, body: 'Hei' };
      // v1
      const v1 = await g.call('POST', '/orders/email', { recipients: [{ emailAddress: c.address }], ...settings });
      expect(v1.status, `v1 ${c.name}`).toBe(202);
      ordered.set(v1.body.orderId as string, { address: c.address, single: c.single, path: 'v1' });
      // v2, with a reminder shortly after
      const v2 = await g.call('POST', '/future/orders', {
        idempotencyId: randomUUID(),
        recipient: { recipientEmail: { emailAddress: c.address, emailSettings: settings } },
        reminders: [
          {
            requestedSendTime: new Date(Date.now() + 2_000).toISOString(),
            recipient: { recipientEmail: { emailAddress: c.address, emailSettings: settings } },
          },
        ],
      });
      expect(v2.status, `v2 ${c.name}: ${JSON.stringify(v2.body)}`).toBe(201);
      const n = v2.body.notification as { shipmentId: string; reminders: { shipmentId: string }[] };
      ordered.set(n.shipmentId, { address: c.address, single: c.single, path: 'v2' });
      ordered.set(n.reminders[0]!.shipmentId, { address: c.address, single: c.single, path: 'reminder' });
      // instant
      const instant = await g.call('POST', '/future/orders/instant/email', {
        idempotencyId: randomUUID(),
        recipientEmail: { emailAddress: c.address, emailSettings: settings },
      });
      expect(instant.status, `instant ${c.name}`).toBe(201);
      ordered.set((instant.body.notification as { shipmentId: string }).shipmentId, {
        address: c.address,
        single: c.single,
        path: 'instant',
      });
    }
    // a direct producer's records (the pipeline's own rules are the API's pattern)
    const direct: NotificationOrder[] = apiCorpus.map((c, i) => {
      const o = sampleOrder(i, { requestedSendTime: Date.now(), idempotencyId: null, sendersReference: null });
      return { ...o, recipients: [{ ...o.recipients[0]!, emailAddress: c.address }] };
    });
    await publish(
      g.kafka,
      g.codec,
      g.prefix,
      'orders',
      direct.map((o) => ({ key: o.orderId, value: o })),
    );
    direct.forEach((o, i) =>
      ordered.set(o.orderId, { address: apiCorpus[i]!.address, single: apiCorpus[i]!.single, path: 'direct' }),
    );
    // a registry's contact points, whatever they hold
    for (const p of registryNins) {
      const res = await g.call('POST', '/future/orders', {
        idempotencyId: randomUUID(),
        recipient: {
          recipientPerson: {
            nationalIdentityNumber: p.nin,
            channelSchema: 'Email',
            emailSettings: { subject: 'registry', body: 'Hei' },
          },
        },
      });
      expect(res.status).toBe(201);
      ordered.set((res.body.notification as { shipmentId: string }).shipmentId, {
        address: p.address,
        single: p.single,
        path: 'registry',
      });
    }

    // every order's one notification reaches a final send status
    const finalOf = () => {
      const m = new Map<string, StatusEvent>();
      for (const e of statuses)
        if (e.notificationId && FINAL.has(e.status) && ordered.has(e.orderId)) m.set(e.orderId, e);
      return m;
    };
    await watch!.waitUntil(() => finalOf().size === ordered.size, 90_000, `${ordered.size} final email statuses`);
    const finals = finalOf();

    const byNotification = new Map([...finals.values()].map((e) => [e.notificationId!, e]));
    const wrong: string[] = [];
    for (const [orderId, o] of ordered) {
      const e = finals.get(orderId)!;
      const expected = o.single ? 'Email_Succeeded' : 'Email_Failed_InvalidFormat';
      if (e.status !== expected) wrong.push(`${o.path} ${JSON.stringify(o.address)}: ${e.status} (${e.description})`);
    }
    expect(wrong).toEqual([]);

    // at the SMTP server: one envelope recipient per message, the notification's own address,
    // and a To header of that address alone; nothing for any evil domain; nothing twice
    const singles = new Set(EMAIL_CORPUS.filter((c) => c.single).map((c) => onTheWire(c.address)));
    const ours = sink.messages.filter((m) => byNotification.has(m.notificationId));
    expect(ours).toHaveLength([...ordered.values()].filter((o) => o.single).length);
    for (const m of sink.messages) {
      expect(m.rcptTo).toHaveLength(1);
      expect(singles.has(onTheWire(m.rcptTo[0]!)), `sent to ${m.rcptTo[0]}`).toBe(true);
      expect(m.rcptTo.join(',')).not.toMatch(/evil/);
    }
    for (const m of ours) {
      const e = byNotification.get(m.notificationId)!;
      expect(m.rcptTo.map(onTheWire)).toEqual([onTheWire(e.destination!)]);
      expect(onTheWire(m.to ?? ''), `To: ${m.to}`).toBe(onTheWire(e.destination!));
      expect(m.mailFrom).toBe('noreply@altinn.cloud');
    }
    expect(new Set(ours.map((m) => m.notificationId)).size).toBe(ours.length);

    // the stage process counts each hand-off once, and times it
    const opsPort = /"opsPort":(\d+)/.exec(proc!.output())![1];
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    expect(metrics).toContain(`notifications_handed_off_total{channel="email"} ${ours.length}`);
    expect(metrics).toContain(`notifications_handoff_latency_seconds_count{channel="email"} ${ours.length}`);
    expect(metrics).toMatch(/^smtp_pool_size [1-9]\d*$/m);
    expect(metrics).toMatch(/^smtp_connections_in_use 0$/m);
  });
});
