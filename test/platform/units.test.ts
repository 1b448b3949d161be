import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { classify, permanent, retriable } from '../../platform/errors.ts';
import { kafkaConnection } from '../../platform/kafka/adapter.ts';
import { createLogger, maskPersonalData } from '../../platform/logger.ts';
import { ABORTED, backoffDelay, madeOnce, settledWithin, untilAborted, withRetry } from '../../platform/retry.ts';
import { recordContext } from '../../processors/runtime/runner.ts';
import { fallbackOf, VIEW_ORDER_FIELDS } from '../../platform/view/store.ts';
import { loadSchema } from '../../platform/schemas/codec.ts';
import { ORDER_DEFAULTS } from '../../platform/schemas/order-defaults.ts';

/** A logger whose lines are kept. */
function captured() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('personal data masking', () => {
  it.each([
    ['mail to ola.nordmann@example.com failed', 'mail to o***@example.com failed'],
    ['sms to +4799999999 queued', 'sms to +********99 queued'],
    ['sms to 004799999999 queued', 'sms to **********99 queued'],
    ['sms to +47 99 99 99 99', 'sms to +********99'],
    ['looked up 01017012345', 'looked up 010170*****'],
    ['local number 98765432', 'local number ******32'],
    ['order 3f2b1c4e-0000-4000-8000-000000000001 done', 'order 3f2b1c4e-0000-4000-8000-000000000001 done'],
    [
      'fetch https://a.blob.core.windows.net/c/f.pdf?sv=2024&se=2026-12-06&sr=b&sp=r&sig=AbC%2Bd%3D failed',
      'fetch https://a.blob.core.windows.net/c/f.pdf?sv=2024&se=2026-12-06&sr=b&sp=r&sig=*** failed',
    ],
    ['{"sasUrl":"https://x/f?sig=AbC&sp=r"}', '{"sasUrl":"https://x/f?sig=***&sp=r"}'],
  ])('masks %j', (input, expected) => {
    expect(maskPersonalData(input)).toBe(expected);
  });

  it('masks personal data in every field and message of a log line', () => {
    const { lines, logger } = captured();
    logger.info(
      { recipient: { email: 'kari@example.com', mobile: '+4798765432' }, nin: '02027012345' },
      'to kari@example.com',
    );
    logger.child({ orderId: 'abc' }).error({ err: new Error('rejected 01017012345') }, 'failed');
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first.recipient).toEqual({ email: 'k***@example.com', mobile: '+********32' });
    expect(first.nin).toBe('020270*****');
    expect(first.msg).toBe('to k***@example.com');
    expect(second.err.message).toBe('rejected 010170*****');
    expect(second.orderId).toBe('abc');
  });

  it('puts where a record is and whose it is on a line about it, a personal key masked', () => {
    const { lines, logger } = captured();
    const record = {
      topic: 't',
      partition: 2,
      offset: '41',
      key: Buffer.from('kari@example.com'),
      value: null,
      headers: {},
      timestamp: '0',
    };
    logger.error({ ...recordContext(record, { orderId: 'o-1', notificationId: 'n-1', body: 'x' }) }, 'dead-lettered');
    logger.error({ ...recordContext(record) }, 'undecodable');
    const [decoded, raw] = lines.map((l) => JSON.parse(l));
    expect(decoded).toMatchObject({ topic: 't', partition: 2, offset: '41', orderId: 'o-1', notificationId: 'n-1' });
    expect(decoded.key).toBe('k***@example.com');
    expect(raw).toMatchObject({ topic: 't', partition: 2, offset: '41', key: 'k***@example.com' });
    expect(raw.orderId).toBeUndefined();
  });
});

describe('a process that meets an error no one handles', () => {
  it.each([
    ['a rejected promise', "void Promise.reject(new Error('lost at ola@example.com'))", 'unhandled promise rejection'],
    [
      'a thrown exception',
      "setTimeout(() => { throw new Error('lost at ola@example.com'); }, 0)",
      'uncaught exception',
    ],
  ])('logs %s as one fatal JSON line, masked and with its stack, and exits 1', (_what, code, msg) => {
    const logger = join(import.meta.dirname, '..', '..', 'platform', 'logger.ts');
    const script = `import { createLogger, exitOnUnhandled } from ${JSON.stringify(logger)};
      exitOnUnhandled(createLogger({ name: 't' })); ${code}; setTimeout(() => process.exit(0), 5000);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '..', '..'),
    });
    expect(run.status).toBe(1);
    const line = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      level: number;
      msg: string;
      err: { message: string; stack: string };
    };
    expect(line).toMatchObject({
      level: 60,
      msg: `${msg}; exiting`,
      err: { type: 'Error', message: 'lost at o***@example.com' },
    });
    expect(line.err.stack).toContain('Error');
    expect(run.stdout).not.toContain('ola@example.com');
  });
});

describe('made once, made again after a failure', () => {
  it('shares one make between callers, forgets a failed one, and says what was made', async () => {
    let makes = 0;
    let fail = true;
    const thing = madeOnce(async () => {
      makes++;
      if (fail) throw new Error('broker restarting');
      return `thing ${makes}`;
    });
    expect(await thing.made()).toBeNull();
    await expect(thing.get()).rejects.toThrow('broker restarting');
    expect(await thing.made()).toBeNull();
    fail = false;
    // the next caller makes it again, and callers at the same time share that one make
    expect(await Promise.all([thing.get(), thing.get()])).toEqual(['thing 2', 'thing 2']);
    expect(await thing.get()).toBe('thing 2');
    expect(await thing.made()).toBe('thing 2');
    expect(makes).toBe(2);
  });
});

describe('a step raced with a stop', () => {
  it('gives the step’s value, or ABORTED once the signal is aborted, whichever comes first', async () => {
    const stop = new AbortController();
    expect(await untilAborted(Promise.resolve(7), stop.signal)).toBe(7);
    await expect(untilAborted(Promise.reject(new Error('no')), stop.signal)).rejects.toThrow('no');
    let finish!: (v: number) => void;
    const slow = untilAborted(new Promise<number>((r) => (finish = r)), stop.signal);
    stop.abort();
    expect(await slow).toBe(ABORTED);
    finish(1); // the step goes on, unawaited
    // already aborted: at once, and a later rejection of the step is swallowed
    expect(await untilAborted(Promise.reject(new Error('late')), stop.signal)).toBe(ABORTED);
  });
});

describe('a wait bounded by a deadline', () => {
  it('answers whether the work settled in time, and gives it up when it did not', async () => {
    expect(await settledWithin(new Promise((r) => setTimeout(r, 5)), 2_000)).toBe(true);
    expect(await settledWithin(Promise.reject(new Error('either way')), 2_000)).toBe(true);
    expect(await settledWithin(new Promise(() => undefined), 20)).toBe(false);
  });

  it('past its deadline, answers without waiting behind timers already due (a late event loop)', async () => {
    // a drain's watchdog, due already: the loop is running late, as on a starved machine
    let watchdogRan = false;
    const watchdog = setTimeout(() => (watchdogRan = true), 0);
    const busy = Date.now();
    while (Date.now() - busy < 5);
    const answers = [
      await settledWithin(new Promise(() => undefined), -1),
      await settledWithin(Promise.resolve(), 0),
      await settledWithin(Promise.all([Promise.resolve(1), Promise.reject(new Error('settled'))]), -100),
    ];
    expect(watchdogRan).toBe(false);
    expect(answers).toEqual([false, true, true]);
    clearTimeout(watchdog);
  });
});

describe('retry policy', () => {
  it('grows exponentially with jitter and never exceeds the cap', () => {
    const opts = { initialMs: 100, maxMs: 1000, factor: 2 };
    expect(backoffDelay(1, opts, () => 0)).toBe(50);
    expect(backoffDelay(1, opts, () => 1)).toBe(100);
    expect(backoffDelay(3, opts, () => 1)).toBe(400);
    for (let a = 1; a < 40; a++) expect(backoffDelay(a, opts)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(30, opts, () => 0)).toBe(500);
  });

  it('retries until success and stops on a non-retriable error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          if (++calls < 3) throw retriable('DEPENDENCY_UNAVAILABLE', 'down');
          return 'ok';
        },
        { initialMs: 1, maxMs: 2 },
      ),
    ).resolves.toBe('ok');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw permanent('INVALID_RECORD', 'bad');
        },
        { initialMs: 1, shouldRetry: (e) => classify(e).retriable },
      ),
    ).rejects.toMatchObject({ code: 'INVALID_RECORD' });
    expect(calls).toBe(1);
  });
});

describe('a fired fallback read back from the status view', () => {
  it('is a permanent error when its stored JSON is not a fallback (dead letter, not retried forever)', () => {
    for (const bad of [undefined, 'null', '{', '{"group":"r0"}', '[]']) {
      let thrown: unknown;
      try {
        fallbackOf(bad);
      } catch (err) {
        thrown = err;
      }
      expect(classify(thrown)).toMatchObject({ code: 'INVALID_RECORD', retriable: false });
    }
    expect(fallbackOf('{"group":"r0","members":["a"],"notifications":[]}')).toEqual({
      group: 'r0',
      members: ['a'],
      notifications: [],
    });
  });
});

describe('orders kept in a form older than the order schema', () => {
  it('read every field the status view does not store as its schema default (so each such field has one)', () => {
    const fields = (loadSchema('order') as { fields: { name: string }[] }).fields.map((f) => f.name);
    const unstored = fields.filter((f) => !(VIEW_ORDER_FIELDS as readonly string[]).includes(f));
    expect(unstored).toContain('fallbackOnDeliveryFailure');
    for (const f of unstored) expect(ORDER_DEFAULTS).toHaveProperty(f);
    expect(ORDER_DEFAULTS).toMatchObject({ fallbackOnDeliveryFailure: null, ignoreReservation: false });
    expect(ORDER_DEFAULTS).not.toHaveProperty('orderId');
  });
});

describe('configuration', () => {
  it('fails fast naming each bad variable', () => {
    expect(() => loadConfig({ KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: 'not a url', TOPIC_PARTITIONS: 'x' })).toThrow(
      ConfigError,
    );
    try {
      loadConfig({ KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: 'not a url', TOPIC_PARTITIONS: 'x' });
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('KAFKA_BROKERS');
      expect(msg).toContain('SCHEMA_REGISTRY_URL');
      expect(msg).toContain('TOPIC_PARTITIONS');
    }
  });

  it('applies documented defaults', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', SCHEMA_REGISTRY_URL: 'http://r' });
    expect(c.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(c.TOPIC_PARTITIONS).toBe(6);
    expect(c.RETRY_MAX_ATTEMPTS).toBe(0);
    expect(c.TRANSACTION_MAX_RECORDS).toBe(2000);
  });

  it("keeps the gateway's shutdown delay within half of its drain bound", () => {
    const base = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r' };
    expect(loadConfig(base).GATEWAY_SHUTDOWN_DELAY_MS).toBe(0);
    expect(loadConfig({ ...base, GATEWAY_SHUTDOWN_DELAY_MS: '15000' }).GATEWAY_SHUTDOWN_DELAY_MS).toBe(15_000);
    expect(() => loadConfig({ ...base, GATEWAY_SHUTDOWN_DELAY_MS: '15001' })).toThrow(
      'GATEWAY_SHUTDOWN_DELAY_MS: 15001 ms, above half of SHUTDOWN_TIMEOUT_MS (30000 ms), which would leave the drain after it too little',
    );
    expect(() => loadConfig({ ...base, GATEWAY_SHUTDOWN_DELAY_MS: '-1' })).toThrow(/GATEWAY_SHUTDOWN_DELAY_MS/);
  });

  it('reads the storage hosts of composed emails', () => {
    const base = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r' };
    expect(loadConfig(base).ATTACHMENT_HOSTS).toEqual(['blob.core.windows.net']);
    expect(
      loadConfig({ ...base, ATTACHMENT_HOSTS: ' .Blob.Core.Windows.Net, store.example ' }).ATTACHMENT_HOSTS,
    ).toEqual(['blob.core.windows.net', 'store.example']);
    expect(() => loadConfig({ ...base, ATTACHMENT_HOSTS: ' , ' })).toThrow(/ATTACHMENT_HOSTS/);
  });

  it('reads the fair share: off by default, weights per creator, a bad weight refused by name', () => {
    const base = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r' };
    const off = loadConfig(base);
    expect([off.FAIR_SHARE_SMS_PER_SECOND, off.FAIR_SHARE_EMAIL_PER_SECOND, off.FAIR_SHARE_BURST_SECONDS]).toEqual([
      0, 0, 2,
    ]);
    expect(off.FAIR_SHARE_WEIGHTS).toEqual({});
    expect(off.FAIR_SHARE_QUEUE_SECONDS).toBe(8);
    expect(() => loadConfig({ ...base, FAIR_SHARE_QUEUE_SECONDS: '0' })).toThrow(/FAIR_SHARE_QUEUE_SECONDS/);
    const on = loadConfig({ ...base, FAIR_SHARE_SMS_PER_SECOND: '95', FAIR_SHARE_WEIGHTS: 'ttd=2, nav=0.5' });
    expect(on.FAIR_SHARE_SMS_PER_SECOND).toBe(95);
    expect(on.FAIR_SHARE_WEIGHTS).toEqual({ ttd: 2, nav: 0.5 });
    for (const bad of ['ttd=0', 'ttd', 'ttd=-1', 'ttd=2,=3'])
      expect(() => loadConfig({ ...base, FAIR_SHARE_WEIGHTS: bad })).toThrow(/FAIR_SHARE_WEIGHTS/);
  });

  it('connects to Kafka as KAFKA_SECURITY_PROTOCOL says, and refuses settings that do not fit together', () => {
    const base = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r' };
    expect(kafkaConnection(loadConfig(base))).toEqual({ brokers: ['a:1'], connectionTimeoutMs: 10_000 });
    expect(kafkaConnection(loadConfig({ ...base, KAFKA_CONNECTION_TIMEOUT_MS: '2500' })).connectionTimeoutMs).toBe(
      2500,
    );
    const dir = mkdtempSync(join(tmpdir(), 'ca-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'PEM');
    expect(
      kafkaConnection(
        loadConfig({
          ...base,
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SASL_USERNAME: 'u',
          KAFKA_SASL_PASSWORD: 'p',
          KAFKA_SSL_CA_FILE: ca,
        }),
      ),
    ).toEqual({
      brokers: ['a:1'],
      connectionTimeoutMs: 10_000,
      tls: { ca: 'PEM' },
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
    });
    expect(kafkaConnection(loadConfig({ ...base, KAFKA_SECURITY_PROTOCOL: 'SSL' }))).toEqual({
      brokers: ['a:1'],
      connectionTimeoutMs: 10_000,
      tls: {},
    });
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
        return 'accepted';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    const noUser = refusal({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_PASSWORD: 'p' });
    expect(noUser).toContain('KAFKA_SASL_USERNAME: required when KAFKA_SECURITY_PROTOCOL is SASL_SSL');
    expect(noUser).not.toContain('KAFKA_SASL_PASSWORD');
    expect(refusal({ KAFKA_SECURITY_PROTOCOL: 'TLS' })).toContain('KAFKA_SECURITY_PROTOCOL');
    expect(refusal({ KAFKA_SSL_CA_FILE: ca })).toContain(
      'KAFKA_SSL_CA_FILE: set, but KAFKA_SECURITY_PROTOCOL PLAINTEXT',
    );
    expect(refusal({ REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: ca })).toContain(
      'REDIS_TLS_CA_FILE: set, but REDIS_URL is not a rediss://',
    );
  });
});
