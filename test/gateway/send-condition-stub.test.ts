import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * The reference's stub condition endpoint (`SendConditionController`): no token, the flag bound
 * as ASP.NET binds a query `bool` without `[ApiController]`. (test/gateway/end-to-end.test.ts
 * points reminders' conditions at it through the chain.)
 */
describe('the stub condition endpoint (GET /tests/sendcondition)', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('condition-stub');
  });
  afterAll(async () => {
    await g?.close();
  });
  const get = async (query: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${g.url}/tests/sendcondition${query}`, { headers });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: text ? (JSON.parse(text) as unknown) : null,
    };
  };

  it('answers conditionMet as sendNotification, with no token', async () => {
    expect(await get('?conditionMet=true')).toEqual({
      status: 200,
      type: 'application/json; charset=utf-8',
      body: { sendNotification: true },
    });
    expect((await get('?conditionMet=false')).body).toEqual({ sendNotification: false });
  });

  it("reads the flag as .NET's bool.TryParse does, anything else false (no 400), the first of several", async () => {
    for (const v of ['TRUE', 'True', '%20true%20'])
      expect((await get(`?conditionMet=${v}`)).body, v).toEqual({ sendNotification: true });
    for (const q of ['', '?conditionMet=', '?conditionMet=yes', '?conditionMet=1', '?conditionmet=abc', '?x=true'])
      expect(await get(q), q).toMatchObject({ status: 200, body: { sendNotification: false } });
    expect((await get('?conditionMet=true&conditionMet=false')).body).toEqual({ sendNotification: true });
    expect((await get('?conditionMet=false&conditionMet=true')).body).toEqual({ sendNotification: false });
  });

  it('takes a JSON content type or none, and answers 415 to another', async () => {
    expect((await get('?conditionMet=true', { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await get('?conditionMet=true', { 'content-type': 'application/problem+json' })).status).toBe(200);
    expect(await get('?conditionMet=true', { 'content-type': 'text/plain' })).toMatchObject({
      status: 415,
      body: null,
    });
  });

  it('answers another method 405 with Allow, not 401', async () => {
    const res = await fetch(`${g.url}/tests/sendcondition?conditionMet=true`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    // and a path below it is not it
    expect((await fetch(`${g.url}/tests/sendcondition/x`)).status).toBe(401);
  });
});
