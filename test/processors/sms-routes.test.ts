import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { provision } from '../../platform/provision.ts';
import { freePort, startStageProcess } from '../support/process.ts';
import { smscOf } from '../support/smsc.ts';
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { SubmitFields, SubmitResult } from '../../platform/smpp/client.ts';
import { smsProviders } from '../../processors/send-sms/options.ts';
import { parseReference, parseRoutes, ProviderHealth, routeFor } from '../../processors/send-sms/routes.ts';
import { sendSmsStage, type SmsProviderPort } from '../../processors/send-sms/stage.ts';
import {
  eventually,
  publish,
  sampleSms,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  testRedis,
  uniquePrefix,
} from '../support/stack.ts';
import { watchStatuses } from '../support/collector.ts';

describe('SMS routes', () => {
  it('reads routes, longest prefix first, * for the rest, and names every mistake', () => {
    const { routes, problems } = parseRoutes('+47=telia,link; +4791=link ;*=link,telia', ['telia', 'link']);
    expect(problems).toEqual([]);
    expect(routeFor(routes, '+4741234567')).toEqual(['telia', 'link']);
    expect(routeFor(routes, '+4791234567')).toEqual(['link']);
    expect(routeFor(routes, '+358401234567')).toEqual(['link', 'telia']);
    expect(routeFor(parseRoutes('+47=telia', ['telia']).routes, '+4612345678')).toEqual([]);
    expect(parseRoutes('', ['a', 'b']).routes).toEqual([{ prefix: '*', providers: ['a', 'b'] }]);
    expect(parseRoutes('47=a;+47=c;*=a,a;+46', ['a']).problems).toEqual([
      '"47" is not a number prefix (+ and digits, or * for any number)',
      'route +47 names unknown provider(s) c',
      'route * names a provider twice',
      '"+46" is not a route (prefix=provider,provider…)',
    ]);
    expect(parseRoutes('+47=a;+47=a', ['a']).problems).toEqual(['the prefix +47 is routed twice']);
  });

  it('configures one provider from SMSC_HOST, or several from SMPP_PROVIDERS, and refuses what does not fit', () => {
    const base = { KAFKA_BROKERS: 'x:1', SCHEMA_REGISTRY_URL: 'http://x' };
    expect(smsProviders(loadConfig({ ...base, SMSC_HOST: 'smsc', SMPP_WINDOW: '10' }))).toEqual([
      expect.objectContaining({ name: 'default', host: 'smsc', port: 2775, window: 10, instantReserve: 2 }),
    ]);
    const providers = JSON.stringify([
      { name: 'telia', host: 'a', port: 2775, systemId: 'n1', password: 'p', window: 20, tps: 200 },
      { name: 'link', host: 'b', port: 2776, systemId: 'n2', window: 5, tps: 50, instantReserve: 0 },
    ]);
    const c = loadConfig({ ...base, SMPP_PROVIDERS: providers, SMS_ROUTES: '+47=telia,link;*=link' });
    expect(smsProviders(c).map((p) => [p.name, p.window, p.instantReserve])).toEqual([
      ['telia', 20, 4],
      ['link', 5, 0],
    ]);
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ SMPP_PROVIDERS: providers, SMS_ROUTES: '+47=nobody' })).toContain(
      'SMS_ROUTES: route +47 names unknown provider(s) nobody',
    );
    expect(refused({ SMPP_PROVIDERS: providers, SMSC_HOST: 'smsc' })).toContain(
      'SMPP_PROVIDERS: set, and SMSC_HOST too',
    );
    expect(refused({ SMPP_PROVIDERS: '[{"name":"a"}]' })).toContain('SMPP_PROVIDERS');
    expect(refused({ SMPP_PROVIDERS: providers.replace('"link"', '"telia"') })).toContain(
      'provider names must be unique',
    );
    expect(refused({ SMPP_PROVIDERS: 'telia' })).toContain('not JSON');
  });

  it('takes a provider out when unbound, throttled or its receipts stop, and puts it back after its cooldown', () => {
    let now = 0;
    let bound = true;
    const h = new ProviderHealth(
      () => bound,
      { receiptSilenceMs: 60_000, cooldownMs: 30_000 },
      () => now,
    );
    expect(h.state()).toEqual({ up: true });
    bound = false;
    expect(h.state()).toEqual({ up: false, reason: 'not bound' });
    bound = true;
    h.throttled();
    now = 29_999;
    expect(h.state()).toEqual({ up: false, reason: 'throttled' });
    now = 30_000;
    expect(h.state().up).toBe(true);
    // accepted submits, receipts keep coming: up
    h.accepted();
    now += 50_000;
    h.receipt();
    h.accepted();
    now += 50_000;
    expect(h.state().up).toBe(true);
    // no receipt for more than the silence since the first submit waiting for one: out, then back
    now += 10_001;
    expect(h.state()).toEqual({ up: false, reason: 'no receipt for 60 s of accepted submits' });
    now += 30_000;
    expect(h.state().up).toBe(true);
  });
});

describe('send-sms over several providers', () => {
  const redis = testRedis();
  afterAll(() => redis.quit());
  const ctx = { logger: createLogger({ level: 'silent' }) } as never;

  /** A provider that answers as told, counting what it was given. */
  function provider(name: string, answers: (SubmitResult['kind'] | 'throttled')[] = []) {
    const submitted: SubmitFields[] = [];
    const recorded: string[][] = [];
    let up = true;
    let next = 0;
    const port: SmsProviderPort & { submitted: SubmitFields[]; recorded: string[][]; down(): void } = {
      name,
      submitted,
      recorded,
      down: () => void (up = false),
      smpp: {
        submit: async (fields) => {
          submitted.push(fields);
          const kind = answers.shift() ?? 'accepted';
          if (kind === 'accepted') return { kind, messageId: `${name.length}${(next++).toString(16)}` };
          if (kind === 'throttled') return { kind: 'error', status: 0x58 };
          if (kind === 'error') return { kind, status: 0x45 };
          return { kind, reason: `${name} ${kind}` };
        },
      },
      receipts: { record: async (_ref, ids) => void recorded.push(ids) },
      health: {
        state: () => (up ? { up: true } : { up: false, reason: 'down' }),
        throttled: () => void (up = false),
        accepted: () => undefined,
      },
    };
    return port;
  }

  const sms = (recipient: string, body = 'kode 1234'): SmsNotification => ({
    notificationId: crypto.randomUUID(),
    orderId: crypto.randomUUID(),
    creator: 'ttd',
    recipient,
    sender: 'Altinn',
    body,
    requestedSendTime: Date.now(),
    expiry: Date.now() + 3_600_000,
    sendingTimePolicy: 'Anytime',
  });

  const stage = (providers: SmsProviderPort[], routes: string) =>
    sendSmsStage({
      providers,
      routes: parseRoutes(
        routes,
        providers.map((p) => p.name),
      ).routes,
      ledger: new SendLedger(redis, uniquePrefix('routes'), 3600),
      clock: Date.now,
      throttledBackoffMs: 1,
    });

  const statusOf = (outcome: unknown) =>
    (outcome as { records: { value: { status: string; gatewayReference: string | null } }[] }).records[0]!.value;

  it('sends a number by its route, to the first provider that is up, and names the provider in the reference', async () => {
    const telia = provider('telia');
    const link = provider('link');
    const s = stage([telia, link], '+47=telia,link;*=link');
    expect(statusOf(await s.handle(sms('+4791234567'), ctx))).toMatchObject({
      status: 'SMS_Accepted',
      gatewayReference: 'telia/50',
    });
    expect(statusOf(await s.handle(sms('+358401234567'), ctx)).gatewayReference).toBe('link/40');
    telia.down();
    expect(statusOf(await s.handle(sms('+4791234568'), ctx)).gatewayReference).toBe('link/41');
    expect([telia.submitted.length, link.submitted.length]).toEqual([1, 2]);
    expect(telia.recorded).toEqual([['50']]);
    expect(parseReference('link/41,42')).toEqual({ provider: 'link', ids: ['41', '42'] });
    expect(parseReference('1A')).toEqual({ provider: 'default', ids: ['1A'] });
  });

  it('reports a replayed accepted SMS with the reference its first report gave, provider and all', async () => {
    const telia = provider('telia');
    const link = provider('link');
    const s = stage([telia, link], '*=link,telia');
    const n = sms('+4791234567');
    expect(statusOf(await s.handle(n, ctx)).gatewayReference).toBe('link/40');
    // handled again (its transaction lost after the hand-over): not sent again, the same reference
    expect(statusOf(await s.handle(n, ctx))).toMatchObject({ status: 'SMS_Accepted', gatewayReference: 'link/40' });
    expect(link.submitted.length).toBe(1);
    // its parts recorded again for their receipts, under the provider that took them
    expect(link.recorded).toEqual([['40'], ['40']]);
  });

  it('moves an SMS nothing of which was handed over (unsent, throttled) to the next provider, never one whose answer was lost', async () => {
    const telia = provider('telia', ['unsent']);
    const link = provider('link');
    const s = stage([telia, link], '*=telia,link');
    expect(statusOf(await s.handle(sms('+4791234567'), ctx))).toMatchObject({ status: 'SMS_Accepted' });
    expect([telia.submitted.length, link.submitted.length]).toEqual([1, 1]);

    const throttling = provider('telia', ['throttled']);
    const other = provider('link');
    const t = stage([throttling, other], '*=telia,link');
    expect(statusOf(await t.handle(sms('+4791234567'), ctx)).gatewayReference).toBe('link/40');

    // the answer lost: it may have gone, so it is reported failed and sent nowhere else
    const lost = provider('telia', ['uncertain']);
    const spare = provider('link');
    const u = stage([lost, spare], '*=telia,link');
    expect(statusOf(await u.handle(sms('+4791234567'), ctx))).toMatchObject({ status: 'SMS_Failed' });
    expect(spare.submitted).toEqual([]);
  });

  it('keeps every part of a long SMS on the provider of its first part', async () => {
    const telia = provider('telia', ['accepted', 'unsent', 'accepted']);
    const link = provider('link');
    const s = stage([telia, link], '*=telia,link');
    const out = statusOf(await s.handle(sms('+4791234567', 'x'.repeat(300)), ctx));
    expect(out).toMatchObject({ status: 'SMS_Accepted', gatewayReference: 'telia/50,51' });
    expect(telia.submitted).toHaveLength(3);
    expect(link.submitted).toEqual([]);
  });

  it('fails a number no route takes, sending it nowhere', async () => {
    const telia = provider('telia');
    const s = stage([telia], '+47=telia');
    expect(statusOf(await s.handle(sms('+4612345678'), ctx))).toMatchObject({ status: 'SMS_Failed' });
    expect(telia.submitted).toEqual([]);
  });
});

describe('send-sms over two SMSC simulators', () => {
  it('moves a dropped provider’s numbers to the next: nothing submitted twice, nothing lost, the in-doubt window failed; takes it back once it binds', async () => {
    const env = stackEnv();
    const classpath = process.env.SMSC_SIMULATOR_CLASSPATH;
    if (!classpath) throw new Error('SMSC_SIMULATOR_CLASSPATH unset: run the tests with ./dev test');
    // provider a: a simulator of this test's own (dropped mid-run); b: the stack's
    const [portA, controlA] = [await freePort(), await freePort()];
    let simA: ReturnType<typeof spawn> | undefined;
    const controlUrlA = `http://127.0.0.1:${controlA}`;
    const tag = randomUUID().slice(0, 6);
    const [sysA, sysB] = [`ra-${tag}`, `rb-${tag}`];
    const prefix = uniquePrefix('sms-routes');
    const config = testConfig(prefix);
    const { kafka, codec } = testClients(config);
    let stage: ReturnType<typeof startStageProcess> | undefined;
    let watch: Awaited<ReturnType<typeof watchStatuses>> | undefined;
    const byId = new Map<string, StatusEvent['status'][]>();
    try {
      // started inside the try, so a failure anywhere after leaves no simulator behind
      simA = spawn(
        'java',
        ['-Xmx128m', '-cp', classpath, 'SmscSimulator', '--port', `${portA}`, '--control-port', `${controlA}`],
        { stdio: 'ignore' },
      );
      await provision(kafka, codec, config);
      watch = await watchStatuses(kafka, codec, prefix, (v) =>
        byId.set(v.notificationId!, [...(byId.get(v.notificationId!) ?? []), v.status]),
      );
      await eventually(
        () =>
          fetch(`${controlUrlA}/health`).then(
            (r) => r.ok,
            () => false,
          ),
        'the second SMSC simulator',
        30_000,
      );
      const norwegian = Array.from({ length: 1500 }, (_, i) =>
        sampleSms(`route ${tag} no ${i}`, { recipient: `+4791${String(i).padStart(6, '0')}` }),
      );
      const swedish = Array.from({ length: 300 }, (_, i) =>
        sampleSms(`route ${tag} se ${i}`, { recipient: `+46701${String(i).padStart(6, '0')}` }),
      );
      const all = [...norwegian, ...swedish];
      for (let i = 0; i < all.length; i += 300)
        await publish(
          kafka,
          codec,
          prefix,
          'smsQueue',
          all.slice(i, i + 300).map((n) => ({ key: n.notificationId, value: n })),
        );
      // a answers each submit after 30 ms, so its window is full when it goes
      expect(
        (await fetch(`${controlUrlA}/rules?systemId=${sysA}&mode=normal&respondDelayMs=30`, { method: 'POST' })).ok,
      ).toBe(true);
      stage = startStageProcess(['send-sms'], {
        ...stageEnv(config),
        // the stack's single SMSC is not this process's: its providers are
        SMSC_HOST: '',
        SMPP_PROVIDERS: JSON.stringify([
          { name: 'a', host: '127.0.0.1', port: portA, systemId: sysA, password: 'secret', window: 10, tps: 300 },
          {
            name: 'b',
            host: env.SMSC_HOST,
            port: Number(env.SMSC_PORT),
            systemId: sysB,
            password: 'secret',
            window: 10,
            tps: 300,
          },
        ]),
        SMS_ROUTES: '+47=a,b;*=b',
        SMS_ROUTE_COOLDOWN_MS: '500',
      });
      await stage.running;
      const opsPort = /"opsPort":(\d+)/.exec(stage.output())![1];
      const providerUp = async (name: string) =>
        new RegExp(`^sms_provider_up\\{provider="${name}"\\} 1$`, 'm').test(
          await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text(),
        );
      await eventually(async () => (await providerUp('a')) && (await providerUp('b')), 'both providers bound', 30_000);

      const [smscA, smscB] = [smscOf(sysA, controlUrlA), smscOf(sysB)];
      await eventually(async () => (await smscA.stats()).accepted >= 300, 'a third of +47 at a', 60_000);
      // provider a is gone: its sessions closed with submits under way, every bind refused
      expect((await fetch(`${controlUrlA}/rules?systemId=${sysA}&mode=down`, { method: 'POST' })).ok).toBe(true);

      // settled: send-sms's own report is there (a receipt's SMS_Delivered, published at once by
      // another producer, can come before the Accepted its stage commits in a transaction)
      const reported = (id: string) => (byId.get(id) ?? []).some((s) => s === 'SMS_Accepted' || s === 'SMS_Failed');
      let next = 0;
      await watch
        .waitUntil(
          () => {
            while (next < all.length && reported(all[next]!.notificationId)) next++;
            return next === all.length;
          },
          120_000,
          'a status from send-sms for every SMS',
        )
        .catch(async (err: unknown) => {
          const open = all.filter((n) => !reported(n.notificationId));
          console.log(
            `no status: ${open.length} (${open.filter((n) => n.body.includes(' no ')).length} +47); a: ` +
              `${JSON.stringify(await smscA.stats())}; b: ${JSON.stringify(await smscB.stats())}\n` +
              stage!
                .output()
                .split('\n')
                .filter((l) => /"level":(40|50|60)/.test(l))
                .slice(-15)
                .join('\n'),
          );
          throw err;
        });

      const atA = await smscA.texts();
      const atB = await smscB.texts();
      const count = new Map<string, number>();
      for (const b of [...atA, ...atB]) count.set(b, (count.get(b) ?? 0) + 1);
      const twice = [...count.values()].filter((c) => c > 1).length;
      const statusOf = (n: { notificationId: string }) => byId.get(n.notificationId)!;
      const failed = all.filter((n) => statusOf(n).includes('SMS_Failed'));
      const accepted = all.filter((n) => statusOf(n).includes('SMS_Accepted'));
      console.log(
        `sms routes: ${all.length} SMS, ${atA.length} at a before its drop, ${atB.length} at b, ${twice} submitted twice, ` +
          `${accepted.length} accepted, ${failed.length} failed (in doubt at the drop)`,
      );
      expect(twice).toBe(0);
      // every SMS accepted by one SMSC, or reported failed for the window in doubt at the drop
      expect(accepted.length + failed.length).toBe(all.length);
      expect(failed.length).toBeLessThanOrEqual(10);
      for (const n of accepted) expect(count.get(n.body)).toBe(1);
      for (const n of failed) expect(atB).not.toContain(n.body);
      // +47 to a while it was there, then to b; the rest only ever to b
      expect(atA.every((b) => b.includes(' no '))).toBe(true);
      expect(swedish.every((n) => atB.includes(n.body))).toBe(true);
      expect(atB.filter((b) => b.includes(' no ')).length).toBeGreaterThan(0);

      // a is back: it binds again, is put back in its route once its cooldown has passed
      expect((await fetch(`${controlUrlA}/rules?systemId=${sysA}`, { method: 'DELETE' })).ok).toBe(true);
      await eventually(() => providerUp('a'), 'provider a up again', 30_000);
      const later = sampleSms(`route ${tag} back`, { recipient: '+4791999999' });
      await publish(kafka, codec, prefix, 'smsQueue', [{ key: later.notificationId, value: later }]);
      await eventually(async () => (await smscA.texts()).includes(later.body), 'the later SMS at a', 30_000);
    } finally {
      stage?.child.kill('SIGKILL');
      simA?.kill('SIGKILL');
      await watch?.stop();
      await kafka.close();
    }
  }, 300_000);
});
