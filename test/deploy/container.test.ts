import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/local-tokens.ts';
import { DEFAULT_STAGES } from '../../processors/stages.ts';
import { parseDockerfile, type DockerStage } from '../support/dockerfile.ts';
import { startNodeProcess } from '../support/process.ts';
import { eventually, stackEnv, stageEnv, testConfig, uniquePrefix } from '../support/stack.ts';

const root = join(import.meta.dirname, '..', '..');
const dockerfile = parseDockerfile(readFileSync(join(root, 'deploy/container/Dockerfile'), 'utf8'));
/** the image's Node, as the stack's install fetched it */
const imageNode = process.env.IMAGE_NODE_BIN ?? '';

/**
 * No container engine runs here, so the image is exercised by its own steps: the build stage's
 * COPY instructions copy the same files into a scratch source folder, its RUN runs the same
 * install script into a scratch app folder, and the gateway and the stages start from that
 * folder with the final stage's ENTRYPOINT, CMD and ENV, against the test stack.
 */
describe('the container image', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'image-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is two stages on one Node LTS line upstream supports, slim, which this test has; the final one runs as an unprivileged user and drains on SIGTERM', () => {
    expect(imageNode, "IMAGE_NODE_BIN, the image's Node (deploy/local/install.sh)").not.toBe('');
    expect(dockerfile.map((s) => s.from)).toHaveLength(2);
    const majors = dockerfile.map((s) => /^node:(\d+)[.\d]*-[a-z]+-slim$/.exec(s.from)?.[1]);
    expect(new Set(majors).size).toBe(1);
    // an even (LTS) line upstream still supports: 20 left it on 2026-04-30, 22 leaves it on 2027-04-30
    expect(Number(majors[0]) % 2).toBe(0);
    expect(Number(majors[0])).toBeGreaterThanOrEqual(22);
    // the install and the processes below run on the image's Node (deploy/local/install.sh fetches it)
    expect(execFileSync(imageNode, ['-v'], { encoding: 'utf8' })).toMatch(new RegExp(`^v${majors[0]}\\.`));
    const final = dockerfile.at(-1)!;
    const user = final.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(final.instructions.find((i) => i.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    // only what the build stage installed reaches the final stage
    const copies = final.instructions.filter((i) => i.op === 'COPY');
    expect(copies.map((c) => c.args)).toEqual(['--from=build /app /app']);
  });

  it('installs production dependencies only, patched, and runs a gateway and the stages that complete an order', async () => {
    const [build, final] = dockerfile as [DockerStage, DockerStage];
    const src = join(scratch, 'src');
    const app = join(scratch, 'app');
    const path = (p: string, workdir: string) => {
      const abs = p.startsWith('/') ? p : join(workdir, p);
      return abs.replace(/^\/src(?=\/|$)/, src).replace(/^\/app(?=\/|$)/, app);
    };
    // the build stage, step by step
    let workdir = '/';
    for (const i of build.instructions) {
      if (i.op === 'WORKDIR') workdir = i.args;
      else if (i.op === 'COPY') {
        const parts = i.args.split(/\s+/);
        const dest = path(parts.pop()!, workdir);
        for (const p of parts) {
          const target = dest.endsWith('/') ? join(dest, p.split('/').pop()!) : dest;
          cpSync(join(root, p), target, { recursive: true });
        }
      } else if (i.op === 'RUN') {
        const cmd = i.args
          .replace(/(^|\s)\/src(?=\/|\s|$)/g, `$1${src}`)
          .replace(/(^|\s)\/app(?=\/|\s|$)/g, `$1${app}`);
        execFileSync('bash', ['-c', cmd], {
          cwd: path('.', workdir),
          stdio: 'pipe',
          timeout: 300_000,
          // npm and the install script on the image's Node, as in the image
          env: { ...process.env, PATH: `${dirname(imageNode)}:${process.env.PATH}` },
        });
      }
    }
    // production dependencies only (what the lock file marks dev-only is absent), and the kafkajs patch applied
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([p]) => p.startsWith('node_modules/'));
    const devOnly = entries.filter(([, e]) => e.dev).map(([p]) => p);
    const prod = entries.filter(([, e]) => !e.dev && !e.optional && !e.devOptional).map(([p]) => p);
    expect(devOnly).toContain('node_modules/vitest');
    expect(devOnly.filter((p) => existsSync(join(app, p)))).toEqual([]);
    expect(prod.filter((p) => !existsSync(join(app, p)))).toEqual([]);
    expect(readFileSync(join(app, 'node_modules/kafkajs/src/producer/sendMessages.js'), 'utf8')).toContain(
      'responsePerPartition',
    );
    expect(existsSync(join(app, 'test'))).toBe(false);

    // the final stage's command, from the installed folder
    const entry = JSON.parse(final.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    const cmd = JSON.parse(final.instructions.find((i) => i.op === 'CMD')!.args) as string[];
    expect(entry).toEqual(['node', '--import', 'tsx']);
    const imageEnv = Object.fromEntries(
      final.instructions
        .filter((i) => i.op === 'ENV')
        .flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
    );
    expect(imageEnv.STAGE_HTTP_HOST).toBe('0.0.0.0');
    const env = stackEnv() as Record<string, string>;
    const prefix = uniquePrefix('image');
    const config = testConfig(prefix);
    const systemId = `img-${randomUUID().slice(0, 8)}`;
    const common = {
      ...imageEnv,
      ...stageEnv(config),
      REGISTRY_URL: env.REGISTRY_URL!,
      STAGE_HTTP_PORT: '0',
      GATEWAY_PORT: '0',
    };
    const stages = startNodeProcess(
      'processors/main.ts',
      {
        ...common,
        STAGES: DEFAULT_STAGES.join(','),
        SMTP_HOST: env.SMTP_HOST!,
        SMTP_PORT: env.SMTP_PORT!,
        SMSC_HOST: env.SMSC_HOST!,
        SMSC_PORT: env.SMSC_PORT!,
        SMPP_SYSTEM_ID: systemId,
        SMPP_PASSWORD: 'secret',
      },
      /"msg":"stages running"/,
      { cwd: app, node: imageNode },
    );
    const gateway = startNodeProcess(
      cmd[0]!,
      {
        ...common,
        AUTH_PUBLIC_KEY_FILE: resolve(root, process.env.AUTH_PUBLIC_KEY_FILE!),
        EMAIL_REPORT_ACCESS_KEY: process.env.EMAIL_REPORT_ACCESS_KEY ?? 'image-test-report-key-0123',
        METRICS_API_KEY: 'image-test-metrics-key-0123',
      },
      /"port":(\d+),"msg":"gateway listening"/,
      { cwd: app, node: imageNode },
    );
    try {
      // the stages' ops server listens where a container's probes reach it
      await stages.ready;
      expect(stages.output()).toMatch(/"opsHost":"0\.0\.0\.0"/);
      const port = await gateway.ready;
      const token = await mintToken(readFileSync(process.env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
        org: 'ttd',
        scope: 'altinn:serviceowner/notifications.create',
      });
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const api = `http://127.0.0.1:${port}/notifications/api/v1`;
      const res = await fetch(`${api}/future/orders`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          idempotencyId: prefix,
          recipient: {
            recipientSms: {
              phoneNumber: '+4799999999',
              smsSettings: { body: `from the image ${prefix}`, sendingTimePolicy: 'Anytime' },
            },
          },
        }),
      });
      expect(res.status).toBe(201);
      const id = ((await res.json()) as { notification: { shipmentId: string } }).notification.shipmentId;
      let completedAt = '';
      await eventually(
        async () => {
          const r = await fetch(`${api}/future/shipment/${id}`, { headers });
          const body = r.status === 200 ? ((await r.json()) as { status: string; lastUpdate: string }) : null;
          completedAt = body?.lastUpdate ?? '';
          return body?.status === 'Order_Completed';
        },
        'the order completed by the stages run from the installed folder',
        60_000,
      );
      // the day's SMS export, made by the gateway's export worker from the installed folder
      // (of the day its result was set: the order completed with it)
      const day = completedAt.slice(0, 10);
      const exported = await fetch(`${api}/metrics/sms?date=${day}`, {
        method: 'POST',
        headers: { 'x-api-key': 'image-test-metrics-key-0123' },
      });
      expect([exported.status, exported.headers.get('x-total-filetransfer-count')]).toEqual([200, '1']);
      expect((await exported.arrayBuffer()).byteLength).toBe(Number(exported.headers.get('x-file-size')));
    } finally {
      stages.child.kill('SIGTERM');
      gateway.child.kill('SIGTERM');
    }
    // SIGTERM drains: both exit 0
    expect(await stages.exited).toBe(0);
    expect(await gateway.exited).toBe(0);
  }, 240_000);
});
