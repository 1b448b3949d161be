import { randomUUID } from 'node:crypto';
import smpp, { type PDU, type Session } from 'smpp';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, stackEnv } from '../support/stack.ts';

/**
 * The SMSC simulator (jSMPP) as the SMS sender will meet it, driven by the independent `smpp`
 * client: binds, submit_sm responses with message ids, receipts as deliver_sm, failure modes.
 */
const env = stackEnv();
const sessions: Session[] = [];

afterEach(() => {
  for (const s of sessions.splice(0)) s.destroy();
});

async function bound(systemId: string): Promise<Session> {
  const session = smpp.connect({ url: `smpp://${env.SMSC_HOST}:${env.SMSC_PORT}` });
  sessions.push(session);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.on('connect', () =>
      session.bind_transceiver({ system_id: systemId, password: 'secret' }, (pdu) =>
        pdu.command_status === 0 ? resolve() : reject(new Error(`bind failed: ${pdu.command_status}`)),
      ),
    );
  });
  return session;
}

async function rules(systemId: string, query: Record<string, string>) {
  const q = new URLSearchParams({ systemId, ...query });
  const res = await fetch(`${env.SMSC_CONTROL_URL}/rules?${q}`, { method: 'POST' });
  expect(res.status).toBe(200);
}

const submit = (s: Session, fields: Record<string, unknown>) =>
  new Promise<PDU>((resolve) => s.submit_sm({ source_addr: 'Altinn', registered_delivery: 1, ...fields }, resolve));

const nextReceipt = (s: Session) =>
  new Promise<PDU>((resolve) =>
    s.once('deliver_sm', (pdu: PDU) => {
      s.send(pdu.response());
      resolve(pdu);
    }),
  );

describe('SMSC simulator', () => {
  it('accepts submit_sm with a message id and sends a DELIVRD receipt for it', async () => {
    const id = `sim-${randomUUID().slice(0, 8)}`;
    const s = await bound(id);
    const receipt = nextReceipt(s);
    const resp = await submit(s, { destination_addr: '+4799999999', short_message: 'Hei fra Altinn' });
    expect(resp.command_status).toBe(0);
    expect(resp.message_id).toMatch(/^[0-9A-F]+$/);
    const dr = await receipt;
    expect((dr.esm_class ?? 0) & 0x04).toBe(0x04);
    expect(dr.receipted_message_id).toBe(resp.message_id);
    const text = JSON.stringify(dr.short_message);
    expect(text).toContain(`id:${resp.message_id}`);
    expect(text).toContain('stat:DELIVRD');

    const messages = (await fetch(`${env.SMSC_CONTROL_URL}/messages?systemId=${id}`).then((r) =>
      r.json(),
    )) as unknown[];
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ destAddr: '+4799999999', sourceAddr: 'Altinn', registeredDelivery: 1 });
  });

  it('answers enquire_link', async () => {
    const s = await bound(`sim-${randomUUID().slice(0, 8)}`);
    const pdu = await new Promise<PDU>((resolve) => s.enquire_link(resolve));
    expect(pdu.command_status).toBe(0);
  });

  it('throttles, rejects and reports failures in the receipt as a test chooses', async () => {
    const id = `sim-${randomUUID().slice(0, 8)}`;
    const s = await bound(id);
    await rules(id, { mode: 'throttle', count: '1' });
    expect((await submit(s, { destination_addr: '+4799999999', short_message: 'a' })).command_status).toBe(0x58);
    await rules(id, { mode: 'reject', status: '0x0B', count: '1' });
    expect((await submit(s, { destination_addr: '+4799999999', short_message: 'b' })).command_status).toBe(0x0b);
    await rules(id, { mode: 'queue-full', count: '1' });
    expect((await submit(s, { destination_addr: '+4799999999', short_message: 'c' })).command_status).toBe(0x14);
    await rules(id, { receiptState: 'UNDELIV', receiptIdFormat: 'decimal' });
    const receipt = nextReceipt(s);
    const ok = await submit(s, { destination_addr: '+4799999999', short_message: 'd' });
    expect(ok.command_status).toBe(0);
    const text = JSON.stringify((await receipt).short_message);
    expect(text).toContain(`id:${BigInt(`0x${ok.message_id}`).toString(10)}`);
    expect(text).toContain('stat:UNDELIV');
  });

  it('withholds a receipt when told to', async () => {
    const id = `sim-${randomUUID().slice(0, 8)}`;
    const s = await bound(id);
    await rules(id, { mode: 'no-receipt', count: '1' });
    const first = await submit(s, { destination_addr: '+4799999999', short_message: 'no receipt' });
    const receipt = nextReceipt(s);
    const second = await submit(s, { destination_addr: '+4799999999', short_message: 'with receipt' });
    // Receipts go out in submit order, so the first deliver_sm being the second message's shows
    // the first one got none.
    expect((await receipt).receipted_message_id).toBe(second.message_id);
    expect(first.message_id).not.toBe(second.message_id);
    // The simulator counts a receipt once the client's deliver_sm_resp reaches it, which may be
    // after this side has resolved.
    const stats = () =>
      fetch(`${env.SMSC_CONTROL_URL}/stats?systemId=${id}`).then((r) => r.json() as Promise<{ receipts: number }>);
    await eventually(async () => (await stats()).receipts >= 1, 'the receipt to be counted');
    expect(await stats()).toMatchObject({ accepted: 2, receipts: 1 });
  });

  it('drops the connection mid-stream without answering', async () => {
    const id = `sim-${randomUUID().slice(0, 8)}`;
    const s = await bound(id);
    await rules(id, { mode: 'drop', afterSubmits: '2', count: '1' });
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect((await submit(s, { destination_addr: '+4799999999', short_message: '1' })).command_status).toBe(0);
    expect((await submit(s, { destination_addr: '+4799999999', short_message: '2' })).command_status).toBe(0);
    s.submit_sm({ destination_addr: '+4799999999', short_message: '3' }, () => undefined);
    await closed;
    const stats = await fetch(`${env.SMSC_CONTROL_URL}/stats?systemId=${id}`).then((r) => r.json());
    expect(stats).toMatchObject({ accepted: 2, drops: 1 });
  });
});
