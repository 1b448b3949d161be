import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { loadSchema } from '../../platform/schemas/codec.ts';
import { orderOf } from '../../platform/schemas/enriched.ts';
import { orderStatus } from '../../platform/status.ts';
import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import { topicName } from '../../platform/topics.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { eventually, sampleOrder, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const V1 = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'enriched-order.v1.avsc'), 'utf8'),
) as avro.Schema;

describe('EnrichedOrder schema', () => {
  it('nests the very definition of schemas/order.avsc (they cannot drift)', () => {
    const enriched = loadSchema('enriched-order') as { fields: { name: string; type: unknown }[] };
    const nested = (enriched.fields.find((f) => f.name === 'order')!.type as unknown[])[1];
    expect(nested).toEqual(loadSchema('order'));
  });

  it('reads a legacy record whose order is JSON, and refuses one whose JSON is not an order', () => {
    const o = sampleOrder(1);
    const legacy = { orderId: o.orderId, creator: 'ttd', enrichedAt: 1, conditionChecks: 0, recipients: [] };
    expect(orderOf({ ...legacy, order: null, orderJson: JSON.stringify(o) })).toEqual(o);
    expect(() => orderOf({ ...legacy, order: null, orderJson: JSON.stringify({ ...o, type: 'Other' }) })).toThrow(
      /not a NotificationOrder \(type\)/,
    );
    expect(() => orderOf({ ...legacy, order: null, orderJson: null })).toThrow(/carries no order/);
  });
});

/**
 * An upgrade with records of the previous EnrichedOrder version (order as JSON) still on
 * orders.enriched: the new schema registers as BACKWARD compatible over the old one, and the
 * upgraded stages handle the old records as they handle new ones.
 */
describe('upgrading over records written with the previous EnrichedOrder schema', () => {
  const prefix = uniquePrefix('upgrade');
  const config = testConfig(prefix);
  const { kafka, codec } = testClients(config);
  let proc: StageProcess | null = null;
  const subject = `${topicName(prefix, 'ordersEnriched')}-value`;
  const registry = config.SCHEMA_REGISTRY_URL;

  beforeAll(async () => {
    // the previous version is registered first, as a running system would have it
    const put = await fetch(`${registry}/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    expect(put.ok).toBe(true);
  });
  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await kafka.close();
  });

  it('handles old records after the new schema is registered over them', async () => {
    const v1Id = await registerBefore(registry, subject, V1);
    // the upgrade: provisioning registers today's schema, which the registry must accept
    await provision(kafka, codec, config);
    expect(await versionsOf(registry, subject)).toBe(2);

    const v1 = avro.Type.forSchema(V1);
    const orders = [1, 2].map((i) => sampleOrder(i, { requestedSendTime: Date.now() }));
    const header = Buffer.alloc(5);
    header.writeInt32BE(v1Id, 1);
    const producer = await kafka.plainProducer();
    await producer.send(
      orders.map((o) => ({
        topic: topicName(prefix, 'ordersEnriched'),
        key: o.orderId,
        value: Buffer.concat([
          header,
          v1.toBuffer({
            orderId: o.orderId,
            creator: o.creator,
            enrichedAt: Date.now(),
            conditionChecks: 0,
            recipients: [
              {
                nationalIdentityNumber: null,
                organizationNumber: null,
                externalIdentity: null,
                name: null,
                isReserved: false,
                emailAddresses: [o.recipients[0]!.emailAddress!],
                mobileNumbers: [],
                userRegistered: false,
              },
            ],
            orderJson: JSON.stringify(o),
          }),
        ]),
      })),
    );
    await producer.close();

    proc = startStageProcess(['evaluate-condition', 'resolve-channel'], { ...stageEnv(config) });
    await proc.running;
    const emails: EmailNotification[] = [];
    await eventually(async () => {
      emails.length = 0;
      const raw: Buffer[] = [];
      await kafka.readSince(topicName(prefix, 'emailQueue'), 0, (r) => void raw.push(r.value!));
      emails.push(...(await Promise.all(raw.map((b) => codec.decode('emailQueue', b)))));
      return emails.length === orders.length;
    }, 'an email per old record');
    expect(emails.map((e) => e.toAddress).sort()).toEqual(['user1@example.com', 'user2@example.com']);
    expect(emails.map((e) => e.subject).sort()).toEqual(['Subject 1', 'Subject 2']);
    const dead: Buffer[] = [];
    await kafka.readSince(topicName(prefix, 'deadLetter'), 0, (r) => void dead.push(r.value!));
    expect(dead).toHaveLength(0);
  });
});

/**
 * Registers `schema` as the subject's first version, as a running system holds it, under the
 * compatibility a Confluent registry assumes (BACKWARD); its id, to frame records written with it.
 */
async function registerBefore(registry: string, subject: string, schema: avro.Schema): Promise<number> {
  const put = await fetch(`${registry}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  expect(put.ok, subject).toBe(true);
  const old = await fetch(`${registry}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  expect(old.status, subject).toBe(200);
  return ((await old.json()) as { id: number }).id;
}

/** How many versions the subject holds. */
async function versionsOf(registry: string, subject: string): Promise<number> {
  return ((await (await fetch(`${registry}/subjects/${encodeURIComponent(subject)}/versions`)).json()) as number[])
    .length;
}

/**
 * The upgrade that brought composed emails: `attachments` joined the order, the enriched order
 * (which nests it) and the email. On a running system each subject holds the schema without it;
 * the new ones must register over them as BACKWARD compatible, and records written before read
 * with `attachments: null`.
 */
describe('upgrading over the schemas from before attachments', () => {
  const prefix = uniquePrefix('upgrade-att');
  const config = testConfig(prefix);
  const { kafka, codec } = testClients(config);
  const registry = config.SCHEMA_REGISTRY_URL;
  const before = (name: string) =>
    JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'fixtures', `${name}.before-attachments.avsc`), 'utf8'),
    ) as avro.Schema;
  afterAll(() => kafka.close());

  it('registers the new schemas over the old, and reads old records with no attachments', async () => {
    const subjects = { orders: 'order', ordersEnriched: 'enriched-order', emailQueue: 'email-notification' } as const;
    const ids: Record<string, number> = {};
    for (const [key, file] of Object.entries(subjects))
      ids[key] = await registerBefore(
        registry,
        `${topicName(prefix, key as keyof typeof subjects)}-value`,
        before(file),
      );
    // the upgrade: provisioning registers today's schemas, which the registry must accept
    await provision(kafka, codec, config);
    for (const key of Object.keys(subjects)) {
      const subject = `${topicName(prefix, key as keyof typeof subjects)}-value`;
      expect(await versionsOf(registry, subject), subject).toBe(2);
    }
    // a record each schema wrote before reads now with attachments null
    const framed = (id: number, body: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    };
    const { attachments: _a, ...oldOrder } = sampleOrder(1);
    const order = await codec.decode(
      'orders',
      framed(ids.orders!, avro.Type.forSchema(before('order')).toBuffer(oldOrder)),
    );
    expect(order).toEqual({ ...oldOrder, attachments: null });
    const oldEmail = {
      notificationId: order.orderId,
      orderId: order.orderId,
      creator: 'ttd',
      fromAddress: 'noreply@altinn.cloud',
      toAddress: 'someone@example.com',
      subject: 'S',
      body: 'B',
      contentType: 'Plain',
      requestedSendTime: 1,
      expiry: 2,
    };
    const email = await codec.decode(
      'emailQueue',
      framed(ids.emailQueue!, avro.Type.forSchema(before('email-notification')).toBuffer(oldEmail)),
    );
    expect(email).toEqual({ ...oldEmail, attachments: null });
    const oldEnriched = {
      orderId: order.orderId,
      creator: 'ttd',
      enrichedAt: 1,
      conditionChecks: 0,
      recipients: [],
      orderJson: null,
      order: oldOrder,
    };
    const enriched = await codec.decode(
      'ordersEnriched',
      framed(ids.ordersEnriched!, avro.Type.forSchema(before('enriched-order')).toBuffer(oldEnriched)),
    );
    expect(orderOf(enriched)).toEqual({ ...oldOrder, attachments: null });
  });
});

/**
 * The status event before it carried the recipient's numbers for the support dashboard
 * (`recipientNationalIdentityNumber`, `recipientOrganizationNumber`, `requestedSendTime`): a
 * registry holding it takes today's over it, and an event written before reads with them null.
 */
describe('upgrading over the status event from before the dashboard index', () => {
  const prefix = uniquePrefix('upgrade-dash');
  const config = testConfig(prefix);
  const { kafka, codec } = testClients(config);
  const registry = config.SCHEMA_REGISTRY_URL;
  afterAll(() => kafka.close());

  it('registers the new schema over the old, and reads an old event with no numbers', async () => {
    const before = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'fixtures', 'status-event.before-dashboard.avsc'), 'utf8'),
    ) as avro.Schema;
    const subject = `${topicName(prefix, 'status')}-value`;
    const id = await registerBefore(registry, subject, before);
    await provision(kafka, codec, config);
    expect(await versionsOf(registry, subject)).toBe(2);
    const {
      recipientNationalIdentityNumber: _n,
      recipientOrganizationNumber: _o,
      requestedSendTime: _t,
      ...oldEvent
    } = { ...orderStatus(sampleOrder(1), 'Email_New', 1), notificationId: 'n-1', channel: 'Email' as const };
    const header = Buffer.alloc(5);
    header.writeInt32BE(id, 1);
    const event = await codec.decode('status', Buffer.concat([header, avro.Type.forSchema(before).toBuffer(oldEvent)]));
    expect(event).toEqual({
      ...oldEvent,
      recipientNationalIdentityNumber: null,
      recipientOrganizationNumber: null,
      requestedSendTime: null,
    });
  });
});
