import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTAINER_SERVICES, composeImages } from '../../deploy/containers/stack.ts';
import { DEFAULT_STAGES, STAGES } from '../../processors/stages.ts';

/**
 * deploy/compose/compose.yaml, loaded by compose-go (the Compose specification's reference loader,
 * which `docker compose` uses) through deploy/tools/compose-check; and the test stack's container
 * mode, which takes its images from the same file. No container can run here.
 */
const root = join(import.meta.dirname, '..', '..');
const composeFile = join(root, 'deploy/compose/compose.yaml');
const scratch = mkdtempSync(join(tmpdir(), 'compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function composeCheck(file: string) {
  const bin = process.env.COMPOSE_CHECK_BIN;
  if (!bin) throw new Error('COMPOSE_CHECK_BIN is not set: run the tests with ./dev test');
  const r = spawnSync(bin, [file], { env: { PATH: process.env.PATH ?? '' } });
  return { status: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
}

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | null>;
  build?: { context: string; dockerfile: string };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}

describe('the Compose file', () => {
  it('loads with compose-go, with every stage of the code, the gateway and the services they need', () => {
    const r = composeCheck(composeFile);
    expect(r.status, r.err).toBe(0);
    const project = JSON.parse(r.out) as { services: Record<string, Service> };
    const stages = Object.keys(STAGES).filter((s) => s !== 'passthrough');
    expect(Object.keys(project.services).sort()).toEqual(
      [...stages, 'gateway', 'provision', 'kafka', 'schema-registry', 'redis', 'mail'].sort(),
    );
    const provision = project.services.provision!;
    expect(provision.build?.dockerfile).toBe('deploy/container/Dockerfile');
    expect(provision.build?.context).toBe(root);
    for (const s of stages) {
      const svc = project.services[s]!;
      expect(svc.command).toEqual(['processors/main.ts', s]);
      expect(svc.image).toBe(provision.image);
      expect(svc.environment?.STAGE_HTTP_HOST).toBe('0.0.0.0');
      expect(svc.depends_on?.provision?.condition).toBe('service_completed_successfully');
    }
    // prepare-notifications runs in enrich-recipients' place (one consumer group), the two after it
    // as its lanes: those three have no replica
    for (const s of ['enrich-recipients', 'evaluate-condition', 'resolve-channel'])
      expect(project.services[s]!.deploy?.replicas, s).toBe(0);
    // it starts what `./dev up` runs
    expect(stages.filter((s) => project.services[s]!.deploy?.replicas !== 0).sort()).toEqual(
      [...DEFAULT_STAGES].sort(),
    );
    expect(project.services['prepare-notifications']!.deploy?.replicas).toBeUndefined();
    expect(project.services.gateway!.command).toEqual(['gateway/main.ts']);
    // the schema registry keeps its schemas in Kafka, not in memory
    expect(project.services['schema-registry']!.environment?.APICURIO_STORAGE_KIND).toBe('kafkasql');
  });

  it('is refused by the loader when it is not a valid project (so the check can fail)', () => {
    const broken = readFileSync(composeFile, 'utf8').replace(
      'condition: service_completed_successfully',
      'condition: service_finished',
    );
    writeFileSync(join(scratch, 'compose.yaml'), broken);
    const r = composeCheck(join(scratch, 'compose.yaml'));
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/condition/);
  });
});

describe('the test stack’s container mode (STACK_SERVICES=containers)', () => {
  it('runs the images compose.yaml names, read from that file', () => {
    const project = JSON.parse(composeCheck(composeFile).out) as { services: Record<string, Service> };
    const images = composeImages();
    for (const s of CONTAINER_SERVICES) expect(images[s]).toBe(project.services[s]!.image);
    expect(images.kafka).toMatch(/^apache\/kafka:/);
  });

  it('fails at once with a clear message where no container runtime answers', () => {
    const docker = spawnSync('docker', ['info'], { timeout: 10_000 });
    const started = Date.now();
    const check = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'deploy/containers/stack.ts'), '--check'],
      {
        cwd: root,
        timeout: 60_000,
      },
    );
    if (docker.status === 0) {
      expect(check.status).toBe(0); // a user with Docker: the mode is available
      return;
    }
    expect(check.status).toBe(3);
    expect(check.stderr.toString()).toMatch(/STACK_SERVICES=containers needs a container runtime/);
    expect(Date.now() - started).toBeLessThan(15_000);
    // and the stack script stops there, starting nothing
    const dir = join(scratch, 'stack');
    const up = spawnSync('bash', [join(root, 'deploy/local/stack.sh'), 'up'], {
      cwd: root,
      env: { ...process.env, STACK_SERVICES: 'containers', STACK_DIR: dir, STACK_PORT_BASE: '25000' },
      timeout: 120_000,
    });
    expect(up.status).not.toBe(0);
    expect(up.stderr.toString()).toMatch(/no container runtime/);
    expect(
      spawnSync('ls', [join(dir, 'pids')])
        .stdout.toString()
        .trim(),
    ).toBe('');
  });
});
