/**
 * The local stack's container mode, for a user with Docker (`STACK_SERVICES=containers ./dev test`
 * or `./dev up`): Kafka, the schema registry and Redis run from the images deploy/compose/compose.yaml
 * names, started with testcontainers on the stack's own ports, so the environment file, and the
 * test suite on it, stay exactly as with local processes. The simulators (the mail sink with its
 * delivery reports, the SMSC, the registries) stay local processes.
 *
 *   node --import tsx deploy/containers/stack.ts --check       exits 0 if a container runtime answers
 *   node --import tsx deploy/containers/stack.ts --kafka-port P --registry-port P --redis-port P
 *     starts the three, prints "containers ready", and stops them on SIGTERM (testcontainers'
 *     reaper removes them if this process dies)
 *
 * No container engine runs on the project's own machines: there this mode fails at once with a
 * clear message (test/deploy/compose.test.ts checks that, and that the images are compose.yaml's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  GenericContainer,
  getContainerRuntimeClient,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from 'testcontainers';
import { parse } from 'yaml';

export const COMPOSE_FILE = join(import.meta.dirname, '..', 'compose', 'compose.yaml');

/** The services this mode runs in containers: compose.yaml's service names. */
export const CONTAINER_SERVICES = ['kafka', 'schema-registry', 'redis'] as const;
export type ContainerService = (typeof CONTAINER_SERVICES)[number];

/** Each container service's image, as compose.yaml names it (one source for both). */
export function composeImages(composeText = readFileSync(COMPOSE_FILE, 'utf8')): Record<ContainerService, string> {
  const doc = parse(composeText) as { services: Record<string, { image?: string }> };
  return Object.fromEntries(
    CONTAINER_SERVICES.map((s) => {
      const image = doc.services[s]?.image;
      if (!image) throw new Error(`compose.yaml has no image for service ${s}`);
      return [s, image];
    }),
  ) as Record<ContainerService, string>;
}

export class NoContainerRuntime extends Error {}

/** Resolves if a container runtime answers; rejects with NoContainerRuntime (a clear message) if not. */
export async function checkRuntime(): Promise<void> {
  try {
    await getContainerRuntimeClient();
  } catch (e) {
    throw new NoContainerRuntime(
      `STACK_SERVICES=containers needs a container runtime (Docker or Podman with its socket), and none answered: ` +
        `${e instanceof Error ? e.message : String(e)}. Unset STACK_SERVICES to run the services as local processes.`,
    );
  }
}

export async function startContainers(ports: {
  kafka: number;
  registry: number;
  redis: number;
}): Promise<{ containers: StartedTestContainer[]; network: StartedNetwork }> {
  const images = composeImages();
  // the registry reaches Kafka by its name on a network of their own, as in compose.yaml
  const network = await new Network().start();
  // Kafka advertises the host port it is published on: a fixed binding, known before it starts
  const kafka = new GenericContainer(images.kafka)
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093,INTERNAL://:19092',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${ports.kafka},INTERNAL://kafka:19092`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withNetwork(network)
    .withNetworkAliases('kafka')
    .withExposedPorts({ container: 9092, host: ports.kafka })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(180_000);
  const redis = new GenericContainer(images.redis)
    .withCommand(['redis-server', '--appendonly', 'yes', '--appendfsync', 'always'])
    .withExposedPorts({ container: 6379, host: ports.redis })
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/));
  const started = await Promise.all([kafka.start(), redis.start()]);
  const registry = await new GenericContainer(images['schema-registry'])
    .withNetwork(network)
    .withEnvironment({
      APICURIO_STORAGE_KIND: 'kafkasql',
      APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: 'kafka:19092',
    })
    .withExposedPorts({ container: 8080, host: ports.registry })
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .withStartupTimeout(180_000)
    .start();
  return { containers: [...started, registry], network };
}

async function main() {
  const { values } = parseArgs({
    options: {
      check: { type: 'boolean' },
      'kafka-port': { type: 'string' },
      'registry-port': { type: 'string' },
      'redis-port': { type: 'string' },
    },
  });
  await checkRuntime();
  if (values.check) return;
  const { containers, network } = await startContainers({
    kafka: Number(values['kafka-port']),
    registry: Number(values['registry-port']),
    redis: Number(values['redis-port']),
  });
  console.log(JSON.stringify({ msg: 'containers ready', images: composeImages() }));
  const stop = async () => {
    await Promise.all(containers.map((c) => c.stop()));
    await network.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e instanceof NoContainerRuntime ? e.message : e);
    process.exit(e instanceof NoContainerRuntime ? 3 : 1);
  });
}
