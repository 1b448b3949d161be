import { afterAll, describe, expect, it } from 'vitest';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { PipelineError } from '../../platform/errors.ts';
import { AvroCodec, loadSchema } from '../../platform/schemas/codec.ts';
import { TOPICS, topicName } from '../../platform/topics.ts';
import { sampleOrder, stackEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

describe('Avro codec over the schema registry', () => {
  const prefix = uniquePrefix('codec');
  const config = testConfig(prefix);
  const { kafka } = testClients(config);
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, prefix);
  const registryUrl = stackEnv().SCHEMA_REGISTRY_URL;

  afterAll(() => kafka.close());

  it('registers every topic schema under <topic>-value with BACKWARD compatibility', async () => {
    const ids = await codec.register();
    expect(ids.size).toBe(Object.keys(TOPICS).length); // one per topic, every lane's included
    const subject = codec.subject('orders');
    expect(subject).toBe(`${topicName(prefix, 'orders')}-value`);
    const subjectConfig = (await fetch(`${registryUrl}/config/${encodeURIComponent(subject)}`).then((r) =>
      r.json(),
    )) as { compatibilityLevel: string };
    expect(subjectConfig.compatibilityLevel).toBe('BACKWARD');
    // Registering again is idempotent: same id.
    const again = new AvroCodec(registryUrl, prefix);
    expect((await again.register(['orders'])).get('orders')).toBe(ids.get('orders'));
  });

  it('sets a subject left at NONE (its registration cut off before its compatibility was set) to BACKWARD', async () => {
    const cut = new AvroCodec(registryUrl, uniquePrefix('codec-cut'));
    const subject = cut.subject('orders');
    const level = async () =>
      (
        (await (await fetch(`${registryUrl}/config/${encodeURIComponent(subject)}`)).json()) as {
          compatibilityLevel: string;
        }
      ).compatibilityLevel;
    // the client's first step alone: the schema registered, the compatibility never set
    const registered = await fetch(`${registryUrl}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(loadSchema(TOPICS.orders.schema)) }),
    });
    expect(registered.ok).toBe(true);
    expect(await level()).toBe('NONE');
    // (before: every registration refused it, "BACKWARD != NONE", until the codec gave up)
    await cut.register(['orders']);
    expect(await level()).toBe('BACKWARD');
  });

  it('round-trips a record in the Confluent wire format', async () => {
    const order = sampleOrder(1, { sendersReference: 'æøå – ✓', recipients: [] });
    const bytes = await codec.encode('orders', order);
    expect(bytes[0]).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(codec.schemaId('orders'));
    expect(await codec.decode('orders', bytes)).toEqual(order);
  });

  it('decodes without a promise once it has read the writer schema, and says when it has not', async () => {
    const order = sampleOrder(2);
    const bytes = await codec.encode('orders', order);
    // a fresh codec has read no writer schema yet: the caller must take the asynchronous path
    const fresh = new AvroCodec(registryUrl, prefix);
    expect(fresh.decodeKnown('orders', bytes)).toBeUndefined();
    expect(await fresh.decode('orders', bytes)).toEqual(order);
    expect(fresh.decodeKnown('orders', bytes)).toEqual(order);
    // bad bytes are refused at once, as by decode
    expect(() => fresh.decodeKnown('orders', Buffer.from('nope'))).toThrow(/Confluent wire format/);
    expect(() => fresh.decodeKnown('orders', null)).toThrow(/tombstone/);
  });

  it('encodes values larger than its scratch buffer, and each result keeps its own bytes', async () => {
    const big = sampleOrder(3, {
      emailTemplate: { fromAddress: 'a@b.no', subject: 's', body: 'x'.repeat(300_000), contentType: 'Plain' },
    });
    const small = sampleOrder(4);
    const [b1, s1] = [await codec.encode('orders', big), await codec.encode('orders', small)];
    const b2 = await codec.encode('orders', big);
    expect(b1.length).toBeGreaterThan(300_000);
    expect(b2.equals(b1)).toBe(true);
    expect(await codec.decode('orders', b1)).toEqual(big);
    expect(await codec.decode('orders', s1)).toEqual(small);
  });

  it('rejects a value that breaks the schema, naming the field', async () => {
    const bad = { ...sampleOrder(2), notificationChannel: 'Fax' } as never;
    await expect(codec.encode('orders', bad)).rejects.toThrow(/invalid fields: notificationChannel/);
    await expect(codec.encode('orders', bad)).rejects.toMatchObject({ code: 'ENCODE_FAILED', retriable: false });
  });

  it('refuses undecodable bytes as a permanent DECODE_FAILED', async () => {
    const err = await codec.decode('orders', Buffer.from('hello')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ code: 'DECODE_FAILED', retriable: false });
    await expect(codec.decode('orders', null)).rejects.toMatchObject({ code: 'DECODE_FAILED' });
  });

  it('reads records written with an older compatible schema, filling defaults', async () => {
    const subject = `${prefix}evolution-value`;
    const registry = new SchemaRegistry({ host: registryUrl });
    const current = loadSchema('sms-notification') as { fields: { name: string }[] };
    const older = { ...current, fields: current.fields.filter((f) => f.name !== 'sendingTimePolicy') };
    // Older writer without a field the reader has with no default would break BACKWARD: the
    // registry must refuse a new version that drops a default-less field's way back.
    const { id: oldId } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(older) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    const withDefault = {
      ...current,
      fields: current.fields.map((f) => (f.name === 'sendingTimePolicy' ? { ...f, default: 'Daytime' } : f)),
    };
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(withDefault) }, { subject });
    const breaking = {
      ...current,
      fields: [...current.fields, { name: 'mandatoryNew', type: 'string' }],
    };
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, { subject }),
    ).rejects.toThrow();

    const oldRecord = {
      notificationId: '0b9f8c4e-7a1d-4c55-9a57-2f0e6f7e3c11',
      orderId: '1c9f8c4e-7a1d-4c55-9a57-2f0e6f7e3c11',
      creator: 'ttd',
      sender: 'Altinn',
      recipient: '+4799999999',
      body: 'hei',
      requestedSendTime: 1,
      expiry: 2,
    };
    const bytes = await registry.encode(oldId, oldRecord);
    const decoded = await registry.decode(bytes, { [SchemaType.AVRO]: { readerSchema: withDefault as never } });
    expect(decoded).toEqual({ ...oldRecord, sendingTimePolicy: 'Daytime' });
  });
});
