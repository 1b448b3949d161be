import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig } from '../../platform/config.ts';
import { createRegistry } from '../../platform/metrics.ts';
import { topicName } from '../../platform/topics.ts';
import { stageGroupId } from '../../processors/runtime/runner.ts';
import { stageDeps, laneStage } from '../../processors/runtime/wiring.ts';
import { DEFAULT_STAGES, STAGES } from '../../processors/stages.ts';
import { testClients, testConfig, uniquePrefix } from '../support/stack.ts';

/**
 * The Helm chart (deploy/helm/notifications), rendered by a real `helm template` and every object
 * validated strictly against Kubernetes' schemas (kubernetes-validate) and, for PodMonitor and
 * ScaledObject, against the operators' own CRDs (deploy/tools/validate-k8s.py). Tools come from
 * `deploy/local/install.sh` (HELM_BIN, TOOLS_PYTHON, DEPLOY_CRDS in the stack's env).
 */
const root = join(import.meta.dirname, '..', '..');
const chart = join(root, 'deploy/helm/notifications');
const KUBE_VERSION = '1.31.0';
const tool = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests with ./dev test (deploy/local/install.sh installs it)`);
  return v;
};
const scratch = mkdtempSync(join(tmpdir(), 'chart-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** YAML (one or many documents) as JSON, by the validator's own Python and PyYAML. */
function yamlToJson(file: string): unknown[] {
  const out = execFileSync(
    tool('TOOLS_PYTHON'),
    ['-c', 'import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))', file],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out) as unknown[];
}

let renders = 0;
function render(args: string[] = []): { file: string; objects: K8sObject[] } {
  const file = join(scratch, `render-${renders++}.yaml`);
  const out = execFileSync(
    tool('HELM_BIN'),
    ['template', 'rel', chart, '--namespace', 'notifications', '--kube-version', KUBE_VERSION, ...args],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  writeFileSync(file, out);
  return { file, objects: yamlToJson(file) as K8sObject[] };
}

function validate(file: string) {
  const crds = tool('DEPLOY_CRDS')
    .split(':')
    .flatMap((c) => ['--crd', c]);
  const r = spawnSync(tool('TOOLS_PYTHON'), [
    join(root, 'deploy/tools/validate-k8s.py'),
    '--kube-version',
    KUBE_VERSION,
    ...crds,
    file,
  ]);
  return { ok: r.status === 0, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

/** Every optional part switched on. */
const EVERYTHING = [
  '--set',
  'autoscaling.keda.enabled=true,gateway.ingress.enabled=true,gateway.ingress.className=nginx',
  '--set',
  'gateway.ingress.tlsSecretName=notifications-tls,stages.send-email.env.SMTP_POOL_SIZE=8',
  '--set-string',
  'auth.publicKeyPem=-----BEGIN PUBLIC KEY-----,auth.accessTokenIssuers.platform=-----BEGIN PUBLIC KEY-----',
  '--set-string',
  'config.SHUTDOWN_TIMEOUT_MS=60000,config.TOPIC_PREFIX=prod.,trust.caBundlePem=-----BEGIN CERTIFICATE-----',
  '--set-string',
  'config.KAFKA_SECURITY_PROTOCOL=SASL_SSL,config.KAFKA_SASL_USERNAME=notifications,config.KAFKA_SSL_CA_FILE=/etc/notifications/trust/ca.pem',
];

/** What each workload reaches: its NetworkPolicy must allow exactly these (and DNS). */
const CALLS: Record<string, string[]> = {
  scheduler: ['kafka', 'schemaRegistry', 'redis'],
  'prepare-notifications': ['kafka', 'schemaRegistry', 'redis', 'registry', 'conditionEndpoints'],
  'enrich-recipients': ['kafka', 'schemaRegistry', 'registry'],
  'evaluate-condition': ['kafka', 'schemaRegistry', 'redis', 'conditionEndpoints'],
  'resolve-channel': ['kafka', 'schemaRegistry'],
  'schedule-window': ['kafka', 'schemaRegistry', 'redis'],
  'send-email': ['kafka', 'schemaRegistry', 'redis', 'smtp', 'attachmentStorage'],
  'send-sms': ['kafka', 'schemaRegistry', 'redis', 'smsc'],
  'order-view': ['kafka', 'schemaRegistry', 'redis'],
  'status-view': ['kafka', 'schemaRegistry', 'redis'],
  gateway: ['kafka', 'schemaRegistry', 'redis', 'registry'],
};
const DEPLOYED_STAGES = Object.keys(STAGES).filter((s) => s !== 'passthrough');

describe('the Helm chart', () => {
  const values = yamlToJson(join(chart, 'values.yaml'))[0] as {
    config: Record<string, unknown>;
    secrets: { values: Record<string, unknown> };
    stages: Record<
      string,
      { input: string; group?: string; enabled?: boolean; lanes?: Record<string, string>; calls: string[] }
    >;
    networkPolicy: { peers: Record<string, { ports: { port: number }[] }>; dns: { ports: { port: number }[] } };
  };

  it('passes helm lint --strict', () => {
    const r = spawnSync(tool('HELM_BIN'), ['lint', '--strict', chart, '--kube-version', KUBE_VERSION]);
    expect(r.status, r.stdout.toString()).toBe(0);
  });

  it('renders objects that validate strictly, with its defaults and with every option on', () => {
    for (const args of [[], EVERYTHING, ['--set', 'secrets.existingSecret=mine,networkPolicy.enabled=false']]) {
      const { file, objects } = render(args);
      const v = validate(file);
      expect(v.ok, v.out).toBe(true);
      expect(v.out).toMatch(new RegExp(`^${objects.length} objects valid, 0 invalid`, 'm'));
    }
    const kinds = new Set(render(EVERYTHING).objects.map((o) => o.kind));
    for (const k of ['Deployment', 'Service', 'Ingress', 'ConfigMap', 'Secret', 'PodDisruptionBudget'])
      expect(kinds).toContain(k);
    for (const k of ['NetworkPolicy', 'PodMonitor', 'PrometheusRule', 'ScaledObject', 'Job'])
      expect(kinds).toContain(k);
  });

  it('limits every pod’s /tmp (the daily exports’ files) to tmpSizeLimit, or not at all when it is empty', () => {
    const tmpOf = (args: string[]) =>
      render(args)
        .objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job')
        .map((d) =>
          (d.spec.template.spec.volumes as { name: string; emptyDir?: unknown }[]).find((v) => v.name === 'tmp'),
        );
    const limited = tmpOf([]);
    // (the gateway's Deployment, the stages', and the topics Job)
    expect(limited.length).toBeGreaterThan(2);
    for (const v of limited) expect(v).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '2Gi' } });
    for (const v of tmpOf(['--set', 'tmpSizeLimit=512Mi']))
      expect(v).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '512Mi' } });
    const unlimited = ['--set', 'tmpSizeLimit=null'];
    for (const v of tmpOf(unlimited)) expect(v).toEqual({ name: 'tmp', emptyDir: {} });
    const v = validate(render(unlimited).file);
    expect(v.ok, v.out).toBe(true);
  });

  it('ships the alert rules of deploy/observability as its PrometheusRule, the same rules', () => {
    const plain = readFileSync(join(root, 'deploy/observability/alert-rules.yaml'), 'utf8');
    expect(readFileSync(join(chart, 'files/alert-rules.yaml'), 'utf8')).toBe(plain);
    const rule = render([]).objects.find((o) => o.kind === 'PrometheusRule') as unknown as {
      spec: { groups: unknown };
    };
    expect(rule.spec.groups).toEqual(
      (yamlToJson(join(root, 'deploy/observability/alert-rules.yaml'))[0] as { groups: unknown }).groups,
    );
  });

  it('fails validation on an unknown field, in a built-in object and in a custom resource', () => {
    const core = render(['--set-json', 'podSecurityContext={"runAsNonRoot":true,"runAsUsr":1000}']);
    const c = validate(core.file);
    expect(c.ok).toBe(false);
    expect(c.out).toMatch(/runAsUsr/);
    const custom = render([...EVERYTHING, '--set-string', 'autoscaling.keda.pollingInterval=15s']);
    const k = validate(custom.file);
    expect(k.ok).toBe(false);
    expect(k.out).toMatch(/ScaledObject\/rel-notifications-\S+: spec\.pollingInterval/);
  });

  it('has a place in its values for every setting of the configuration schema, and none that is not one', () => {
    const settings = Object.keys(ConfigSchema.shape).sort();
    const placed = [...Object.keys(values.config), ...Object.keys(values.secrets.values)].sort();
    expect(placed).toEqual(settings);
  });

  it('renders a configuration the code accepts, with its defaults and with every option on', () => {
    // what a pod's environment holds: the ConfigMap and the Secret (whose values the user gives)
    const environment = (args: string[]) => {
      const objects = render([...args, '--set-string', 'secrets.values.KAFKA_SASL_PASSWORD=secret']).objects;
      const of = (kind: string) =>
        objects.find((o) => o.kind === kind && o.metadata.name.startsWith('rel-notifications'))!;
      return {
        ...(of('ConfigMap').data as Record<string, string>),
        ...(of('Secret').stringData as Record<string, string>),
      };
    };
    for (const args of [[], EVERYTHING]) {
      const config = loadConfig(environment(args));
      // a gateway being stopped takes requests while its pod leaves the Service's endpoints
      expect(config.GATEWAY_SHUTDOWN_DELAY_MS).toBe(5_000);
    }
    // one the code refuses (a delay above half the drain) fails to load, naming the setting
    expect(() => loadConfig(environment(['--set-string', 'config.SHUTDOWN_TIMEOUT_MS=8000']))).toThrow(
      /GATEWAY_SHUTDOWN_DELAY_MS/,
    );
  });

  it('deploys every stage of the code, on its input topic, consumer group and only what it calls', async () => {
    expect(Object.keys(values.stages).sort()).toEqual([...DEPLOYED_STAGES].sort());
    // each stage's input topic and whether it uses Redis, from the code's own wiring
    const config = testConfig(uniquePrefix('chart'), {
      REGISTRY_URL: 'http://registry.invalid',
      SMTP_HOST: 'smtp.invalid',
      SMSC_HOST: 'smsc.invalid',
    });
    const clients = testClients(config);
    for (const name of DEPLOYED_STAGES) {
      let usesRedis = false;
      const deps = stageDeps({ ...clients, config, registry: createRegistry(false) });
      const bundle = STAGES[name]!.build({
        ...deps,
        redis: () => {
          usesRedis = true;
          return deps.redis();
        },
      });
      deps.closeRedis();
      expect(values.stages[name]!.input, name).toBe(topicName('', bundle.stage.input));
      // the group it reads in (KEDA's lag trigger), as the code's wiring and its runner name it
      expect(values.stages[name]!.group ?? name, name).toBe(bundle.stage.group ?? bundle.stage.name);
      expect(STAGES[name]!.group ?? name, name).toBe(bundle.stage.group ?? bundle.stage.name);
      // its lanes (they run in its pods), each on its input
      expect(values.stages[name]!.lanes ?? {}, name).toEqual(
        Object.fromEntries((bundle.lanes ?? []).map(laneStage).map((l) => [l.name, topicName('', l.input)])),
      );
      expect(values.stages[name]!.calls.includes('redis'), `${name} uses Redis`).toBe(usesRedis);
      expect([...values.stages[name]!.calls].sort(), name).toEqual([...CALLS[name]!].sort());
    }

    const { objects } = render(EVERYTHING);
    const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
    const portsOf = (calls: string[]) =>
      [
        ...values.networkPolicy.dns.ports.map((p) => p.port),
        ...calls.flatMap((c) => values.networkPolicy.peers[c]!.ports.map((p) => p.port)),
      ].sort();
    // prepare-notifications runs in enrich-recipients' place by default, evaluate-condition and
    // resolve-channel as its lanes: those three are not deployed on their own
    const apart = ['enrich-recipients', 'evaluate-condition', 'resolve-channel'];
    expect(DEPLOYED_STAGES.filter((n) => values.stages[n]!.enabled === false).sort()).toEqual(apart);
    // the chart deploys what `./dev up` runs
    expect(DEPLOYED_STAGES.filter((n) => values.stages[n]!.enabled !== false).sort()).toEqual(
      [...DEFAULT_STAGES].sort(),
    );
    const dev = /^DEFAULT_STAGES="([^"]*)"/m.exec(readFileSync(join(root, 'dev'), 'utf8'))![1]!;
    expect(dev.split(',')).toEqual([...DEFAULT_STAGES]);
    for (const name of apart)
      expect(objects.filter((o) => o.metadata.name === `rel-notifications-${name}`)).toEqual([]);
    for (const name of [...DEPLOYED_STAGES.filter((n) => values.stages[n]!.enabled !== false), 'gateway']) {
      const full = `rel-notifications-${name}`;
      const deployment = named('Deployment', full);
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      // the stage it runs, graceful shutdown longer than the drain, probes, spread, non-root
      if (name !== 'gateway') expect(container.args).toEqual(['processors/main.ts', name]);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(60);
      // liveness apart from readiness (a Redis or SMSC outage must not restart every gateway or sender)
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      if (name !== 'gateway') expect(container.startupProbe.httpGet.path).toBe('/health/live');
      expect(container.readinessProbe.httpGet.path).toBe('/health');
      expect(pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain(
        'topology.kubernetes.io/zone',
      );
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(named('PodDisruptionBudget', full).spec.selector.matchLabels).toEqual(
        deployment.spec.selector.matchLabels,
      );
      // egress: DNS and exactly what it calls
      const policy = named('NetworkPolicy', full);
      expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      const egressPorts = policy.spec.egress
        .flatMap((e: { ports: { port: number }[] }) => e.ports.map((p) => p.port))
        .sort();
      expect(egressPorts, name).toEqual(portsOf(CALLS[name]!));
      if (name === 'gateway') continue;
      // autoscaling on the lag of the consumer group the runner really uses
      const scaled = named('ScaledObject', full);
      expect(scaled.spec.scaleTargetRef.name).toBe(full);
      const group = values.stages[name]!.group ?? name;
      expect(scaled.spec.triggers[0].metadata.consumerGroup).toBe(stageGroupId('prod.', group));
      // and on each lane's
      expect(
        scaled.spec.triggers.map((t: { metadata: { consumerGroup: string; topic: string } }) => [
          t.metadata.consumerGroup,
          t.metadata.topic,
        ]),
      ).toEqual(
        [[group, values.stages[name]!.input], ...Object.entries(values.stages[name]!.lanes ?? {})].map(([g, t]) => [
          stageGroupId('prod.', g!),
          `prod.${t}`,
        ]),
      );
      expect(deployment.spec.replicas).toBeUndefined(); // KEDA owns it
    }
    // a stage's env override reaches only that stage
    const env = (n: string) =>
      (named('Deployment', `rel-notifications-${n}`).spec.template.spec.containers[0].env ?? []) as {
        name: string;
        value: string;
      }[];
    expect(env('send-email')).toContainEqual({ name: 'SMTP_POOL_SIZE', value: '8' });
    expect(env('send-sms').map((e) => e.name)).not.toContain('SMTP_POOL_SIZE');
    await clients.kafka.close();
  });
});
