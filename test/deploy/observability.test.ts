import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/local-tokens.ts';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { DEFAULT_STAGES } from '../../processors/stages.ts';
import { startNodeProcess, startStageProcess, type StageProcess } from '../support/process.ts';
import { GATEWAY_LISTENING, gatewayEnv, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

/**
 * The dashboard and alert rules of deploy/observability (issue 14): every PromQL expression in
 * them is parsed by a real PromQL parser (deploy/tools/check-promql.py, promql-parser from PyPI
 * in the tools venv `deploy/local/install.sh` makes) and checked against what a running gateway
 * and stage process expose on /metrics, after traffic that makes every labelled series appear:
 * an email, an SMS delivered (its receipt from the SMSC simulator), an order the releaser
 * releases, a registry lookup, a poison record (a dead letter), a refused request. An
 * expression that names a metric or label the processes do not expose fails the test.
 */
const root = join(import.meta.dirname, '..', '..');
const env = process.env as Record<string, string>;
const python = () => {
  const p = env.TOOLS_PYTHON;
  if (!p) throw new Error('TOOLS_PYTHON is not set: run the tests with the stack env (./dev test)');
  return p;
};

interface Expression {
  source: string;
  expr: string;
}

function expressions(): Expression[] {
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/observability/dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const out: Expression[] = [];
  for (const p of dashboard.panels)
    for (const t of p.targets ?? []) out.push({ source: `dashboard: ${p.title}`, expr: t.expr });
  const rules = spawnSync(python(), [
    '-c',
    'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
    join(root, 'deploy/observability/alert-rules.yaml'),
  ]);
  const parsed = JSON.parse(rules.stdout.toString()) as { groups: { rules: { alert: string; expr: string }[] }[] };
  for (const g of parsed.groups) for (const r of g.rules) out.push({ source: `rule: ${r.alert}`, expr: r.expr });
  return out;
}

describe('the dashboard and alert rules', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'observability-'));
  const check = (exprs: Expression[], expositions: string[]) => {
    const file = join(scratch, `expressions-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(exprs));
    const files = expositions.map((text, i) => {
      const f = join(scratch, `exposition-${i}.txt`);
      writeFileSync(f, text);
      return f;
    });
    const r = spawnSync(python(), [
      join(root, 'deploy/tools/check-promql.py'),
      ...files.flatMap((f) => ['--exposition', f]),
      file,
    ]);
    return { ok: r.status === 0, out: r.stdout.toString() + r.stderr.toString() };
  };
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has a checker that fails on a syntax error, an unknown metric and an unknown label', () => {
    const exposition = 'pipeline_consumer_lag{stage="a",topic="t",partition="0"} 3\n';
    expect(check([{ source: 'ok', expr: 'sum by (stage, job) (pipeline_consumer_lag)' }], [exposition]).ok).toBe(true);
    for (const [expr, why] of [
      ['sum(rate(pipeline_consumer_lag[5m]) by', 'does not parse'],
      ['sum(pipeline_consumer_lags)', "metric 'pipeline_consumer_lags' is not exposed"],
      ['sum by (stages) (pipeline_consumer_lag)', "label 'stages'"],
      ['pipeline_consumer_lag{channel="sms"}', "label 'channel'"],
    ]) {
      const r = check([{ source: 'bad', expr: expr! }], [exposition]);
      expect(r.ok, r.out).toBe(false);
      expect(r.out).toContain(why);
    }
  });

  describe('against the running processes', () => {
    const prefix = uniquePrefix('obs');
    const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
    const { kafka, codec } = testClients(config);
    let stages: StageProcess | null = null;
    let gateway: ReturnType<typeof startNodeProcess> | null = null;
    let stagesPort = '';
    let gatewayPort = 0;

    beforeAll(async () => {
      await provision(kafka, codec, config);
      stages = startStageProcess([...DEFAULT_STAGES], {
        ...stageEnv(config),
        REGISTRY_URL: env.REGISTRY_URL!,
        SMTP_HOST: env.SMTP_HOST!,
        SMTP_PORT: env.SMTP_PORT!,
        SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
        SMSC_HOST: env.SMSC_HOST!,
        SMSC_PORT: env.SMSC_PORT!,
        SMPP_SYSTEM_ID: `obs${Math.random().toString(36).slice(2, 8)}`,
        SMPP_PASSWORD: 'secret',
        SCHEDULER_POLL_MS: '50',
        LAG_SAMPLE_INTERVAL_MS: '500',
      });
      gateway = startNodeProcess(
        'gateway/main.ts',
        { ...gatewayEnv(config), EMAIL_REPORT_ACCESS_KEY: env.EMAIL_REPORT_ACCESS_KEY! },
        GATEWAY_LISTENING,
      );
      gatewayPort = await gateway.ready;
      await stages.running;
      stagesPort = /"opsPort":(\d+)/.exec(stages.output())![1]!;
    });
    afterAll(async () => {
      stages?.child.kill('SIGTERM');
      gateway?.child.kill('SIGTERM');
      await Promise.all([stages?.exited, gateway?.exited]);
      await kafka.close();
    });

    it('names only metrics and labels that the gateway and the stages expose', async () => {
      const token = await mintToken(readFileSync(env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
        org: 'ttd',
        scope: 'altinn:serviceowner/notifications.create',
      });
      const api = `http://127.0.0.1:${gatewayPort}/notifications/api/v1`;
      const post = async (body: unknown) => {
        const res = await fetch(`${api}/future/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        expect(res.status, await res.clone().text()).toBe(201);
      };
      const mail = { subject: 'observability', body: 'observability' };
      // an email now, one a few seconds later (the releaser releases it), an SMS (delivered: the
      // SMSC simulator sends its receipt), and an EmailPreferred person (a registry lookup)
      await post({
        idempotencyId: `${prefix}1`,
        recipient: { recipientEmail: { emailAddress: 'obs@example.com', emailSettings: mail } },
      });
      await post({
        idempotencyId: `${prefix}2`,
        requestedSendTime: new Date(Date.now() + 3_000).toISOString(),
        recipient: { recipientEmail: { emailAddress: 'obs2@example.com', emailSettings: mail } },
      });
      await post({
        idempotencyId: `${prefix}3`,
        recipient: {
          recipientSms: {
            phoneNumber: '+4792000001',
            smsSettings: { body: 'observability', sendingTimePolicy: 'Anytime' },
          },
        },
      });
      await post({
        idempotencyId: `${prefix}4`,
        recipient: {
          recipientPerson: {
            nationalIdentityNumber: '01017012345',
            channelSchema: 'EmailPreferred',
            emailSettings: mail,
            smsSettings: { body: 'observability', sendingTimePolicy: 'Anytime' },
          },
        },
      });
      // a request refused, and a poison record for the scheduler's dead letters
      expect((await fetch(`${api}/future/shipment/feed`)).status).toBe(401);
      const producer = await kafka.plainProducer();
      await producer.send([{ topic: topicName(prefix, 'orders'), key: 'poison', value: Buffer.from('not avro') }]);
      await producer.close();

      // every series appears as the traffic flows: check until the checker passes
      const all = expressions();
      expect(all.length).toBeGreaterThan(20);
      let last = { ok: false, out: '' };
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const texts = await Promise.all(
          [`http://127.0.0.1:${stagesPort}/metrics`, `http://127.0.0.1:${gatewayPort}/metrics`].map(async (u) =>
            (await fetch(u)).text(),
          ),
        );
        last = check(all, texts);
        if (last.ok) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      console.log(last.out.trim().split('\n').slice(-1)[0]);
      expect(last.ok, last.out).toBe(true);
    });
  });
});
