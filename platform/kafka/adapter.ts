/**
 * The one module that talks to the Kafka client library (kafkajs). Everything else in the
 * project uses the types and functions exported here, so the client can be replaced in one
 * place.
 */
import {
  CompressionTypes,
  type SASLOptions,
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type LogEntry,
  type Message,
  type Producer,
} from 'kafkajs';
import { readFileSync } from 'node:fs';
import { retriable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { withRetry } from '../retry.ts';
import { javaCompatiblePartitioner } from './partitioner.ts';
import { serialSends } from './serial-sends.ts';

export interface InboundRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
  timestamp: string;
}

export interface OutboundRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  config: Record<string, string>;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  highWatermark: string;
  records: InboundRecord[];
  /** marks records up to `offset` as done in this consumer's in-memory position */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  /** false once the consumer is stopping: finish the current step and return */
  isRunning(): boolean;
  /** true when a seek or rebalance made this batch obsolete */
  isStale(): boolean;
  /** moves this consumer's position in the partition to `offset` (the next record to read) */
  seek(offset: string): void;
}

export interface ConsumerHandle {
  /** stops fetching, waits for the batch in hand to finish, leaves the group */
  stop(): Promise<void>;
  /** resolves when the consumer has joined its group and has an assignment */
  joined: Promise<void>;
}

export interface TransactionalProducer {
  readonly transactionalId: string;
  /**
   * Initialises the producer id. This fences any older producer with the same transactional id
   * and completes (commit or abort) a transaction that one left open, so the group's committed
   * offsets are stable when this resolves.
   */
  init(): Promise<void>;
  /** writes `records` and, when given, commits `offsets` for their group, atomically */
  commit(records: OutboundRecord[], offsets?: OffsetTarget | GroupOffsets, control?: CommitControl): Promise<void>;
  close(): Promise<void>;
}

/** what the group coordinator answers a member whose partitions are moving, or have moved */
const REJOIN_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/**
 * Whether a heartbeat's error says the member must rejoin its group: its partitions are being
 * given out again, or were already (not a broker or connection failure, after which it may
 * still be a member, nor a coordinator that has moved: the kafkajs patch looks it up again and
 * the member heartbeats there in its generation).
 */
export function rejoinNeeded(err: unknown): boolean {
  return REJOIN_ERRORS.has((err as { type?: string } | null)?.type ?? '');
}

/** kafkajs's errors for a broker not reached: refused, dropped, timed out, or no coordinator found */
const UNREACHABLE_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSGroupCoordinatorNotFound',
]);
/** a coordinator's answers while it moves to another broker or loads its state there */
const COORDINATOR_AWAY_ERRORS = new Set([
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_LOAD_IN_PROGRESS',
]);

/**
 * Whether `err` says a broker or a coordinator cannot be reached for now (it died, restarts, or
 * moves), as it is or as the cause of an error a kafkajs retrier gave up on: kafkajs gives up at
 * once on a refused connection ("the metadata is refreshed on a higher level") and marks that
 * not retriable, though it passes once Kafka has moved the coordinator or the broker is back.
 */
export function kafkaUnreachable(err: unknown): boolean {
  for (let e = err as { name?: string; type?: string; cause?: unknown } | null, depth = 0; e && depth < 5; depth++) {
    if (UNREACHABLE_ERRORS.has(e.name ?? '') || COORDINATOR_AWAY_ERRORS.has(e.type ?? '')) return true;
    if (e.cause === e) break;
    e = e.cause as typeof e;
  }
  return false;
}

/** a partition's leader away from the broker the metadata named, for now */
const LEADER_AWAY_ERRORS = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Whether `err` (or its cause) says a partition's leader cannot be asked for now: its broker dead
 * or hung until the controller fences it (9–14 s on the cluster stack), or the leader moved since
 * the metadata the request went by was read (a broker restarted, the preferred leaders elected
 * again, every five minutes by default, a reassignment).
 */
function leaderAway(err: unknown): boolean {
  if (kafkaUnreachable(err)) return true;
  for (let e = err as { type?: string; cause?: unknown } | null, depth = 0; e && depth < 5; depth++) {
    if (LEADER_AWAY_ERRORS.has(e.type ?? '')) return true;
    if (e.cause === e) break;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * An admin's read of partition offsets, asked again while a partition's leader is away (for up to
 * about 30 s, past a broker's fencing). kafkajs's admin gives up at once on a leader gone, hung or
 * moved (a chaos run failed on "This server is not the leader for that topic-partition" in its
 * counts; the releaser's reconciliation and a gateway's takeover read the same way); its admin
 * reads the metadata afresh for each call, so the next attempt goes to the new leader.
 */
function whileLeadersAway<T>(read: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return withRetry(
    () => {
      signal?.throwIfAborted();
      return read();
    },
    { maxAttempts: 30, initialMs: 200, maxMs: 1_000, shouldRetry: leaderAway, ...(signal ? { signal } : {}) },
  ).catch((err: unknown) => {
    if (signal?.aborted) throw signal.reason;
    throw err;
  });
}

/** how long a tool's or a test's reader (`collect`) lets the broker hold a fetch with nothing to give, ms */
const COLLECT_FETCH_WAIT_MS = 250;

/** kafkajs's errors that make a member join its group again (its `isRebalancing`) */
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION']);

/**
 * A transaction's failure as its batch hands it back to kafkajs, once the stage has rewound the
 * partition and dropped its producer: kafkajs may then start its fetch loop again, the member
 * staying in its group. kafkajs crashes the consumer on an error marked not retriable (a fenced
 * producer's INVALID_PRODUCER_EPOCH, as its retrier gives it up: seen when a transaction
 * coordinator hung past the transaction's timeout), and a crashed consumer leaves its group, a
 * rebalance of every member. The errors kafkajs rejoins on stay as they are.
 */
export function retriableAfterRewind(err: unknown): unknown {
  const e = err as { retriable?: boolean; type?: string; cause?: { type?: string } } | null;
  if (!e || e.retriable !== false) return err;
  if (REBALANCING.has(e.type ?? '') || REBALANCING.has(e.cause?.type ?? '')) return err;
  return new Error(`transaction failed, its records read again: ${(err as Error).message}`, { cause: err });
}

/** A record's size on the wire, roughly: value, key, headers and a record's overhead. */
export function recordBytes(r: OutboundRecord): number {
  let n = (r.value?.length ?? 0) + (r.key === null ? 0 : Buffer.byteLength(r.key)) + 64;
  for (const [k, v] of Object.entries(r.headers ?? {}))
    n += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  return n;
}

/** One input partition's position (the next offset to read) for a group. */
export interface OffsetTarget {
  groupId: string;
  topic: string;
  partition: number;
  offset: string;
}

/** A consumer's membership of its group: the generation it joined and its member id. */
export interface GroupMember {
  generationId: number;
  memberId: string;
}

/**
 * Several input partitions' positions for a group, committed by one transaction. With `member`
 * (KIP-447), the group coordinator refuses them (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) once the
 * group has moved on from that member, so the transaction fails and aborts: a producer shared by
 * all of a consumer's partitions is fenced by the group, not by a transactional id per partition.
 */
export interface GroupOffsets {
  groupId: string;
  member?: GroupMember;
  positions: { topic: string; partition: number; offset: string }[];
}

/** How a caller of a transaction may still take it back, and learn when it no longer can. */
export interface CommitControl {
  /** when aborted by the time the records are written, the transaction is aborted instead */
  signal?: AbortSignal;
  /**
   * called just before the commit is asked for, in the same tick as the last look at `signal`:
   * from then on, its outcome decides. The records and offsets are written by then, pending. A
   * promise it returns is awaited before the commit (tests hold a transaction open this way)
   */
  committing?: () => void | Promise<void>;
}

export interface PlainProducer {
  /** idempotent, acks=all; resolves when every record is acknowledged */
  send(records: OutboundRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Producers retry without limit: an idempotent producer that gives up on a batch may break its
 * sequence numbers, and a stage has nothing better to do than wait for the broker. The short
 * first delay matters for transactions: right after a commit the coordinator answers the next
 * AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until its markers are written, and the
 * default 100 ms first back-off would cap each partition at a few transactions a second. The
 * back-off grows to a second at most, as the Java client's (`retry.backoff.max.ms`): a write to a
 * dead broker's partition goes through within a second of the cluster moving its leader (with
 * 5 s, `broker-loss-membership.test.ts` saw such writes wait 6-10 s past the move, till the
 * broker was back).
 */
/** most bytes a plain producer gathers into one send from callers that waited for the one before */
const PLAIN_SEND_MAX_BYTES = 512 * 1024;

/**
 * How kafkajs backs off, every option set by the adapter so that none comes from kafkajs's
 * defaults: kafkajs has two sets of them, one when NODE_ENV is `test` (each delay 1.5 times the
 * last, 2 % randomised) and one otherwise (twice the last, 20 %), and the stage processes the
 * tests start inherit vitest's NODE_ENV, so with defaults the recovery the tests measured would
 * not be production's. The shape is the Java client's: each delay twice the last, 20 % random
 * either way, at most a second (`retry.backoff.ms` 100 growing to `retry.backoff.max.ms`).
 * A client's 8 retries span about 5.5 s, a consumer's 5 about 4 s; past them the error reaches
 * the loop above (the consumer's restart, the producer's unbounded retries, `withRetry`).
 */
const RETRY_SHAPE = { multiplier: 2, factor: 0.2, maxRetryTime: 1_000 };

/** the retry options the adapter gives kafkajs, per client; exported for the test that checks them */
export const KAFKA_RETRY = {
  client: { ...RETRY_SHAPE, initialRetryTime: 100, retries: 8 },
  consumer: { ...RETRY_SHAPE, initialRetryTime: 300, retries: 5 },
  producer: { ...RETRY_SHAPE, initialRetryTime: 10, retries: Number.MAX_SAFE_INTEGER },
} as const;

/**
 * A producer's retry options that end its retries once it is closed. Unpatched kafkajs goes on
 * retrying a closed producer's requests for good, reconnecting to do so: a transactional producer
 * dropped because its initialisation or transaction took too long (a broker down) could, seconds
 * later, finish its InitProducerId and fence the producer that replaced it, whose transaction
 * then failed too, and so on while the cluster was slow. The kafkajs patch makes every retry
 * loop of the producer (its cluster's and its transaction manager's too) ask `stopped` first.
 */
function stoppable() {
  let stopped = false;
  return {
    ...KAFKA_RETRY.producer,
    stopped: () => stopped,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Protocol errors that kafkajs logs as errors but that are routine waits, retried until they
 * pass: CONCURRENT_TRANSACTIONS (51; a transaction begun right after a commit, refused until the
 * broker has written the last one's markers) and UNSTABLE_OFFSET_COMMIT (88; a committed offset
 * read while a transaction that moves it is still open, see `committedOffset`). Logged at debug.
 */
const ROUTINE_RETRIES = [
  'another concurrent operation on the same transaction',
  'There are unstable offsets that need to be cleared',
];
/**
 * What a broker's death, a rebalance or a moved leader makes kafkajs log as errors, each tried
 * again by kafkajs or by the stage (whose own log says so when it gives up: `transaction failed`,
 * `consumer crashed`): worth seeing if they persist, logged at warn (a coordinator's waits at info
 * until they have lasted a while: `kafkaLogLevels`). NOT_COORDINATOR (16),
 * COORDINATOR_LOAD_IN_PROGRESS (14), COORDINATOR_NOT_AVAILABLE (15), REBALANCE_IN_PROGRESS (27:
 * every member's heartbeat at each scaling or rolling restart), ILLEGAL_GENERATION (22, a
 * transaction's offsets of the generation before), NOT_LEADER_OR_FOLLOWER (6), NOT_ENOUGH_REPLICAS
 * (19), and a broker refusing or dropping the connection (or given up: fenced while it hung). A
 * connection error of another kind (a certificate not trusted, a name not resolved: a
 * misconfiguration) stays an error.
 */
const TRANSIENT_RETRIES = [
  'This is not the correct coordinator',
  'The coordinator is loading',
  'The group coordinator is not available',
  'The group is rebalancing, so a rejoin is needed',
  'Specified group generation id is not valid',
  'This server is not the leader for that topic-partition',
  'fewer in-sync replicas than required',
  'connect ECONNREFUSED',
  'read ECONNRESET',
  'Closed connection',
  // the kafkajs patch's: requests in flight to a broker the cluster fenced while it hung
  'is no longer in the cluster (fenced or gone)',
];

type KafkaLogEntry = { message: string; error?: unknown };
type Level = 'debug' | 'info' | 'warn' | 'error';

/** whether the entry's error or message says one of `texts` */
const says = (entry: KafkaLogEntry, texts: string[]) =>
  [entry.error, entry.message].some((t) => typeof t === 'string' && texts.some((x) => t.includes(x)));

/**
 * A CreateTopics answered with errors, as kafkajs's connection logs every response that carries
 * one: when processes provision at once (the gateway and the stages at `./dev up`, instances of a
 * rollout), all but the first find topics made meanwhile (TOPIC_ALREADY_EXISTS). The log entry
 * does not say which error it was; kafkajs's admin takes that one as done, and throws any other,
 * which `provision` retries or fails on, and its caller logs. So it is info here.
 */
const answeredCreateTopics = (entry: KafkaLogEntry) =>
  entry.message.startsWith('Response CreateTopics') && entry.error === 'Topic creation errors';

/** The level our log gives a kafkajs log entry of `level` (kafkajs's) saying `entry`. */
export function kafkaLogLevel(level: logLevel, entry: KafkaLogEntry): Level {
  if (says(entry, ROUTINE_RETRIES)) return 'debug';
  if (answeredCreateTopics(entry)) return 'info';
  if (level <= logLevel.ERROR) return says(entry, TRANSIENT_RETRIES) ? 'warn' : 'error';
  if (level === logLevel.WARN) return 'warn';
  if (level === logLevel.INFO) return 'info';
  return 'debug';
}

/**
 * A coordinator not ready to answer yet: NOT_COORDINATOR (16), COORDINATOR_LOAD_IN_PROGRESS (14),
 * COORDINATOR_NOT_AVAILABLE (15). Every client's first requests to a broker just started get
 * them (the gateway logged seven warnings within its first half second on every `./dev up`), and
 * so does every client for a few seconds after a coordinator moves; kafkajs asks again.
 */
const COORDINATOR_WAITS = [
  'This is not the correct coordinator',
  'The coordinator is loading',
  'The group coordinator is not available',
];
/**
 * A run of coordinator waits is logged at info while it lasts under `warnAfterMs` and at warn
 * from then on (a coordinator that stays away is worth an operator's eye); a run ends when none
 * has come for `quietMs`.
 */
export const COORDINATOR_PATIENCE = { warnAfterMs: 10_000, quietMs: 30_000 };

/**
 * `kafkaLogLevel`, with coordinator waits at info unless they persist (`COORDINATOR_PATIENCE`):
 * one per client, which keeps the time its run of them began.
 */
export function kafkaLogLevels(now: () => number = Date.now): (level: logLevel, entry: KafkaLogEntry) => Level {
  let run: { since: number; last: number } | null = null;
  return (level, entry) => {
    const l = kafkaLogLevel(level, entry);
    if (l !== 'warn' || !says(entry, COORDINATOR_WAITS)) return l;
    const t = now();
    if (run === null || t - run.last > COORDINATOR_PATIENCE.quietMs) run = { since: t, last: t };
    run.last = t;
    return t - run.since >= COORDINATOR_PATIENCE.warnAfterMs ? 'warn' : 'info';
  };
}

function toKafkaLogLevel(level: string): logLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'error':
    case 'fatal':
      return logLevel.ERROR;
    case 'silent':
      return logLevel.NOTHING;
    default:
      return logLevel.WARN;
  }
}

function groupByTopic(records: OutboundRecord[]) {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (!list) byTopic.set(r.topic, (list = []));
    list.push(r.headers ? { key: r.key, value: r.value, headers: r.headers } : { key: r.key, value: r.value });
  }
  return [...byTopic.entries()].map(([topic, messages]) => ({ topic, messages }));
}

/** the headers of a record that has none (most do): one shared, frozen object */
/** a commit's offsets as kafkajs's sendOffsets takes them: per topic, with the group's metadata when given */
function toSendOffsets(offsets: OffsetTarget | GroupOffsets) {
  const positions = 'positions' in offsets ? offsets.positions : [offsets];
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const p of positions) {
    const list = topics.get(p.topic) ?? [];
    list.push({ partition: p.partition, offset: p.offset });
    topics.set(p.topic, list);
  }
  return {
    consumerGroupId: offsets.groupId,
    topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
    ...('member' in offsets && offsets.member ? { groupMetadata: offsets.member } : {}),
  };
}

const NO_HEADERS: Record<string, Buffer | undefined> = Object.freeze({});

function toInbound(topic: string, partition: number, m: EachBatchPayload['batch']['messages'][number]): InboundRecord {
  let headers = NO_HEADERS;
  for (const k in m.headers) {
    if (headers === NO_HEADERS) headers = {};
    const v = m.headers[k];
    headers[k] = Array.isArray(v)
      ? v[0] === undefined
        ? undefined
        : Buffer.from(v[0])
      : v === undefined
        ? undefined
        : Buffer.from(v);
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: m.timestamp };
}

/** Where the brokers are and how to reach them: TLS, SASL, both or neither. */
export interface KafkaConnection {
  brokers: string[];
  /** TLS to the brokers, trusting `ca` (PEM) or, without it, the system's CAs */
  tls?: { ca?: string };
  sasl?: { mechanism: 'scram-sha-512' | 'scram-sha-256' | 'plain'; username: string; password: string };
  /** how long opening one connection (TLS and SASL included) may take, ms (default 10 000) */
  connectionTimeoutMs?: number;
}

/** The configuration's Kafka settings as a connection (`loadConfig` has checked they fit together). */
export function kafkaConnection(config: {
  KAFKA_BROKERS: string[];
  KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  KAFKA_SASL_MECHANISM: 'scram-sha-512' | 'scram-sha-256' | 'plain';
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_CONNECTION_TIMEOUT_MS?: number;
}): KafkaConnection {
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const conn: KafkaConnection = { brokers: config.KAFKA_BROKERS };
  if (config.KAFKA_CONNECTION_TIMEOUT_MS !== undefined) conn.connectionTimeoutMs = config.KAFKA_CONNECTION_TIMEOUT_MS;
  if (protocol === 'SSL' || protocol === 'SASL_SSL')
    conn.tls = config.KAFKA_SSL_CA_FILE ? { ca: readFileSync(config.KAFKA_SSL_CA_FILE, 'utf8') } : {};
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    if (!config.KAFKA_SASL_USERNAME || !config.KAFKA_SASL_PASSWORD)
      throw new Error(`KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with ${protocol}`);
    conn.sasl = {
      mechanism: config.KAFKA_SASL_MECHANISM,
      username: config.KAFKA_SASL_USERNAME,
      password: config.KAFKA_SASL_PASSWORD,
    };
  }
  return conn;
}

/** which of the adapter's clients sent a request */
export type KafkaClientKind = 'producer' | 'consumer' | 'admin';

export class KafkaAdapter {
  private readonly kafka: Kafka;
  private adminClient: Admin | null = null;

  /**
   * `retries`: how often a request the client sends is retried (default 8, about 5.5 s: see `KAFKA_RETRY`);
   * `onRequest`: told of every request a producer, consumer or the admin client had answered (its
   * API, as Kafka names it, and how long it waited for the answer, ms), for the process's metrics
   */
  constructor(
    readonly options: KafkaConnection & {
      clientId: string;
      logger: Logger;
      retries?: number;
      onRequest?: (client: KafkaClientKind, api: string, durationMs: number) => void;
    },
  ) {
    const log = options.logger.child({ component: 'kafka' });
    const levelOf = kafkaLogLevels();
    const { sasl, tls } = options;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      // the broker's certificate is checked against its address (Node's default), never skipped
      ...(tls ? { ssl: tls.ca ? { ca: [tls.ca] } : true } : {}),
      ...(sasl ? { sasl: { ...sasl } as SASLOptions } : {}),
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      logLevel: toKafkaLogLevel(log.level),
      retry: { ...KAFKA_RETRY.client, retries: options.retries ?? KAFKA_RETRY.client.retries },
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          const { message, ...rest } = entry;
          log[levelOf(level, entry)](rest, message);
        },
    });
  }

  /** tells `onRequest` of the client's answered requests */
  private counted<C extends Producer | Consumer | Admin>(kind: KafkaClientKind, client: C): C {
    const onRequest = this.options.onRequest;
    if (onRequest)
      (client as Producer).on((client as Producer).events.REQUEST, (e) =>
        onRequest(kind, e.payload.apiName, e.payload.duration),
      );
    return client;
  }

  private async admin(): Promise<Admin> {
    if (!this.adminClient) {
      const admin = this.counted('admin', this.kafka.admin());
      await admin.connect();
      this.adminClient = admin;
    }
    return this.adminClient;
  }

  /** How many brokers the cluster has now. */
  async brokerCount(): Promise<number> {
    const admin = await this.admin();
    return (await admin.describeCluster()).brokers.length;
  }

  /**
   * How many brokers the cluster is made of, as far as can be told: those up now, and every
   * broker a partition of an existing topic is assigned to (a broker that is down still holds
   * its replicas, and comes back to them).
   */
  async clusterSize(): Promise<number> {
    const admin = await this.admin();
    const ids = new Set((await admin.describeCluster()).brokers.map((b) => b.nodeId));
    const meta = await admin.fetchTopicMetadata();
    for (const t of meta.topics) for (const p of t.partitions) for (const r of p.replicas) ids.add(r);
    return ids.size;
  }

  /**
   * Creates missing topics and grows partition counts that are too small. Existing topics keep
   * their data; their configs are brought to the spec.
   */
  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = await this.admin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: s.replicationFactor,
          configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    const present = specs.filter((s) => existing.has(s.name));
    if (present.length === 0) return;
    const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
    const grow = present.flatMap((s) => {
      const have = meta.topics.find((t) => t.name === s.name)?.partitions.length ?? 0;
      return have < s.partitions ? [{ topic: s.name, count: s.partitions }] : [];
    });
    if (grow.length > 0) await admin.createPartitions({ topicPartitions: grow });
    await admin.alterConfigs({
      validateOnly: false,
      resources: present.map((s) => ({
        type: 2, // TOPIC
        name: s.name,
        configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
      })),
    });
  }

  /** Each partition's leader (broker node id) of `topic`, as the cluster's metadata has it now. */
  async partitionLeaders(topic: string): Promise<Map<number, number>> {
    const admin = await this.admin();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return new Map((meta.topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]));
  }

  /**
   * The partitions, of every topic the cluster has (its internal ones too), with fewer in-sync
   * replicas than replicas, as `topic:partition`: a broker restarted and not caught up yet. While
   * one is listed, losing another broker can leave it below `min.insync.replicas`, unwritable.
   */
  async underReplicated(): Promise<string[]> {
    const admin = await this.admin();
    // (fetchTopicMetadata with no topics answers none: name them all)
    const meta = await admin.fetchTopicMetadata({ topics: await admin.listTopics() });
    return meta.topics.flatMap((t) =>
      t.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => `${t.name}:${p.partitionId}`),
    );
  }

  /**
   * Deletes every topic whose name starts with `prefix` (a non-empty one: a benchmark's own run),
   * so runs that follow start on a broker without its partitions. Resolves with how many.
   */
  async deleteTopicsWithPrefix(prefix: string): Promise<number> {
    if (prefix.length === 0) throw new Error('deleteTopicsWithPrefix needs a prefix');
    const admin = await this.admin();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    return topics.length;
  }

  /** A group's committed offsets on `topic`, per partition (-1: none yet). */
  async groupOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const admin = await this.admin();
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((entry?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  async describeTopic(topic: string): Promise<{ partitions: number; config: Record<string, string> }> {
    const admin = await this.admin();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic }] });
    const config: Record<string, string> = {};
    for (const e of cfg.resources[0]?.configEntries ?? []) config[e.configName] = e.configValue;
    return { partitions: meta.topics[0]?.partitions.length ?? 0, config };
  }

  /**
   * The group's committed offset for a partition (null when it has none), stable: OffsetFetch
   * goes with require_stable (version 7, which the kafkajs patch adds), so an offset a completing
   * transaction still has pending is waited for (UNSTABLE_OFFSET_COMMIT, retried) instead of
   * answered with the one before it. The broker makes a transaction's offsets visible
   * asynchronously after its commit markers, so without it a re-verification right after a
   * broker restart read a stale offset and handled committed records again.
   *
   * Only this read asks for stable offsets. The consumer's own fetch on joining a group does not:
   * a transaction the stage abandoned (its producer gone with the broker) would otherwise keep the
   * consumer from starting until the broker timed it out, while it is the stage's re-verification
   * (`init`, which fences and aborts it, then this read) that settles it. A consumer that starts
   * from a stale offset has the records below the committed one skipped by the runner.
   */
  async committedOffset(groupId: string, topic: string, partition: number): Promise<string | null> {
    const admin = await this.admin();
    const res = await withRetry(() => admin.fetchOffsets({ groupId, topics: [topic], requireStable: true }), {
      maxAttempts: 100,
      initialMs: 20,
      maxMs: 1_000,
      // UNSTABLE_OFFSET_COMMIT, a coordinator still loading or moving (a fresh or restarted
      // broker), and one on a broker not reached (dead until Kafka moves its coordinators)
      shouldRetry: (err) => (err as { retriable?: boolean }).retriable === true || kafkaUnreachable(err),
    });
    const offset = res[0]?.partitions.find((p) => p.partition === partition)?.offset;
    return offset === undefined || offset === '-1' ? null : offset;
  }

  /**
   * The end a read_committed consumer reaches now, per partition: the last stable offset (below
   * the first record of any transaction still open), not the high watermark.
   */
  async topicEndOffsets(topic: string): Promise<Map<number, string>> {
    const admin = await this.admin();
    const res = await whileLeadersAway(() => admin.fetchTopicOffsets(topic));
    return new Map(res.map((p) => [p.partition, p.high]));
  }

  async plainProducer(): Promise<PlainProducer> {
    const create = async (): Promise<Producer> => {
      const retry = stoppable();
      const producer: Producer = this.counted(
        'producer',
        this.kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          retry,
          createPartitioner: javaCompatiblePartitioner,
        }),
      );
      const disconnect = producer.disconnect.bind(producer);
      producer.disconnect = () => {
        retry.stop();
        return disconnect();
      };
      await producer.connect();
      return producer;
    };
    // A send that failed may still have been written (the broker went away before answering).
    // kafkajs then hands that batch's sequence numbers to the next batch, which the broker takes
    // for a duplicate of the one it wrote: it answers success and drops it. So a producer whose
    // send failed is never used again; the next send gets a new one, with a new producer id.
    let current: Promise<Producer> = create();
    await current; // Kafka is reachable at start, or this throws, as it always has
    const sendBatch = async (records: OutboundRecord[]): Promise<void> => {
      const producer = await current.catch((err: unknown) => {
        current = create();
        current.catch(() => undefined);
        throw retriable('DEPENDENCY_UNAVAILABLE', `Kafka producer: ${(err as Error).message}`, err);
      });
      try {
        await producer.sendBatch({
          topicMessages: groupByTopic(records),
          acks: -1,
          compression: CompressionTypes.None,
        });
      } catch (err) {
        if ((await current.catch(() => null)) === producer) {
          current = create();
          current.catch(() => undefined);
          void producer.disconnect().catch(() => undefined);
        }
        // kafkajs has retried already: whatever stops a send now is Kafka being unavailable
        throw retriable('DEPENDENCY_UNAVAILABLE', `Kafka did not take the records: ${(err as Error).message}`, err);
      }
    };
    // one send at a time (see serial-sends.ts: two at once on one idempotent producer can lose one)
    const sends = serialSends(sendBatch, (r) => (r.value?.length ?? 0) + 64, PLAIN_SEND_MAX_BYTES);
    return {
      send: (records) => sends.send(records),
      close: async () => (await current.catch(() => null))?.disconnect(),
    };
  }

  async transactionalProducer(transactionalId: string, transactionTimeoutMs = 30_000): Promise<TransactionalProducer> {
    const retry = stoppable();
    const producer = this.counted(
      'producer',
      this.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: transactionTimeoutMs,
        allowAutoTopicCreation: false,
        retry,
        createPartitioner: javaCompatiblePartitioner,
      }),
    );
    await producer.connect();
    return {
      transactionalId,
      init: async () => {
        // The first transaction() runs InitProducerId; an empty transaction ends without a request.
        const tx = await producer.transaction();
        await tx.abort();
      },
      commit: async (records, offsets, control) => {
        const tx = await producer.transaction();
        try {
          if (records.length > 0) {
            await tx.sendBatch({ topicMessages: groupByTopic(records), acks: -1, compression: CompressionTypes.None });
          }
          if (offsets) await tx.sendOffsets(toSendOffsets(offsets));
          if (control?.signal?.aborted) throw new Error('transaction abandoned: its caller gave up waiting');
          const holding = control?.committing?.();
          if (holding) await holding;
          await tx.commit();
        } catch (err) {
          if (tx.isActive()) await tx.abort().catch(() => undefined);
          throw err;
        }
      },
      close: () => {
        retry.stop();
        return producer.disconnect();
      },
    };
  }

  /**
   * A consumer in `groupId` reading committed records only, offsets never auto-committed
   * (the caller commits them inside its transactions).
   */
  async batchConsumer(options: {
    groupId: string;
    topics: string[];
    partitionsConcurrently: number;
    /** how long the group waits for a silent member before moving its partitions, ms */
    sessionTimeoutMs?: number;
    /**
     * The broker holds a fetch until this many bytes are ready or `fetchMaxWaitMs` passes: larger
     * batches, so fewer and larger transactions, for at most that much added latency per hop.
     */
    fetchMinBytes?: number;
    fetchMaxWaitMs?: number;
    /**
     * After a fetch from a broker brought nothing, the next one from it asks for any byte and
     * waits up to this long: an idle consumer asks each broker once per this long (not once per
     * `fetchMaxWaitMs`), and its first record comes back at once, not after a wait for bytes.
     */
    fetchIdleWaitMs?: number;
    fromBeginning?: boolean;
    /** the partitions this member holds after each join, and its membership (generation, member id) */
    onAssignment?: (assignment: Record<string, number[]>, member: GroupMember) => void;
    onCrash?: (err: Error, restart: boolean) => void;
    /**
     * after each batch (also one of transaction markers or aborted records only, which reaches
     * no handler): the last offset the consumer has passed in that partition
     */
    onProgress?: (partition: number, lastOffset: string) => void;
    eachBatch: (batch: PartitionBatch) => Promise<void>;
  }): Promise<ConsumerHandle> {
    const consumer: Consumer = this.counted(
      'consumer',
      this.kafka.consumer({
        groupId: options.groupId,
        readUncommitted: false,
        allowAutoTopicCreation: false,
        sessionTimeout: options.sessionTimeoutMs ?? 10_000,
        rebalanceTimeout: 60_000,
        heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 5)),
        maxBytesPerPartition: 1024 * 1024,
        minBytes: options.fetchMinBytes ?? 1,
        maxWaitTimeInMs: options.fetchMaxWaitMs ?? 5_000,
        ...(options.fetchIdleWaitMs !== undefined ? { idleMaxWaitTimeInMs: options.fetchIdleWaitMs } : {}),
        retry: { ...KAFKA_RETRY.consumer },
      }),
    );
    let markJoined: () => void = () => undefined;
    const joined = new Promise<void>((resolve) => (markJoined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      options.onAssignment?.(e.payload.memberAssignment, {
        generationId: e.payload.generationId,
        memberId: e.payload.memberId,
      });
      markJoined();
    });
    consumer.on(consumer.events.CRASH, (e) => {
      options.onCrash?.(e.payload.error, e.payload.restart);
    });
    const onProgress = options.onProgress;
    if (onProgress) {
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => onProgress(e.payload.partition, e.payload.lastOffset));
    }
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently,
      eachBatch: async (payload) => {
        const { batch } = payload;
        await options.eachBatch({
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: batch.highWatermark,
          records: batch.messages.map((m) => toInbound(batch.topic, batch.partition, m)),
          resolveOffset: payload.resolveOffset,
          heartbeat: payload.heartbeat,
          isRunning: payload.isRunning,
          isStale: payload.isStale,
          seek: (offset) => consumer.seek({ topic: batch.topic, partition: batch.partition, offset }),
        });
      },
    });
    return { stop: () => consumer.disconnect(), joined };
  }

  /**
   * A read-only consumer of committed records (tools and tests): calls `onRecord` for each and
   * commits nothing. Its fetches wait at most COLLECT_FETCH_WAIT_MS for a first byte: its stop
   * waits for the fetch under way, which at kafkajs's 5 s made each stop of an idle reader take
   * 5 s (about a third of the scheduler test file's time went to its readers' stops).
   */
  async collect(options: {
    groupId: string;
    topics: string[];
    onRecord: (record: InboundRecord) => void;
    /** see `batchConsumer` */
    onProgress?: (partition: number, lastOffset: string) => void;
  }): Promise<ConsumerHandle> {
    return this.batchConsumer({
      groupId: options.groupId,
      topics: options.topics,
      partitionsConcurrently: 1,
      fetchMaxWaitMs: COLLECT_FETCH_WAIT_MS,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      eachBatch: async (batch) => {
        for (const r of batch.records) options.onRecord(r);
        const last = batch.records[batch.records.length - 1];
        if (last) batch.resolveOffset(last.offset);
      },
    });
  }

  /**
   * Reads the committed records of `topic` written since `fromMs` (by record timestamp), up to
   * the end of every partition as it is when the call starts: every record written before the
   * call, once its transaction has ended (aborted ones are not seen). So it answers "is this
   * record on the topic?" for one the caller knows was committed or fenced.
   *
   * The end is the high watermark, not the last stable offset: a record committed after another
   * producer's transaction began sits above the last stable offset until that transaction ends,
   * and a read that stopped there missed it (the releaser then released 702 notifications again
   * in one chaos run). The price: the read waits for every transaction open in the range to end,
   * at worst until the coordinator times out one whose producer died with it open.
   *
   * `signal`: a caller that stops waiting for the answer (its own time bound) ends the read with
   * it, rather than leave its offsets lookups and its consumer running in the background;
   * the read then rejects with the signal's reason.
   */
  async readSince(
    topic: string,
    fromMs: number,
    onRecord: (record: InboundRecord) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    signal?.throwIfAborted();
    const admin = await this.admin();
    const starts = await whileLeadersAway(() => admin.fetchTopicOffsetsByTimestamp(topic, fromMs), signal);
    const ends = new Map(
      (await whileLeadersAway(() => admin.fetchTopicOffsets(topic, { readUncommitted: true }), signal)).map((p) => [
        p.partition,
        BigInt(p.high),
      ]),
    );
    // A partition is read once the consumer's position passes its last offset; transaction
    // markers are filtered out by the client, so progress is tracked from batch events.
    const pending = new Set(
      starts.filter((s) => BigInt(s.offset) < (ends.get(s.partition) ?? 0n)).map((s) => s.partition),
    );
    if (pending.size === 0) return;
    const consumer: Consumer = this.kafka.consumer({
      groupId: `read-since-${topic}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      // A fetch that finds nothing new waits this long before it answers: with kafkajs's 5 s, the
      // seeks below (made once the consumer runs) left every read waiting one such fetch out,
      // 5.1 s for a read of 2 records or of 852 alike (2026-12-03, the chaos stack).
      maxWaitTimeInMs: 100,
    });
    let finish!: () => void;
    let fail!: (e: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // (failed before it is awaited, by a crash or the signal while connecting, it is not unhandled)
    done.catch(() => undefined);
    const progress = (partition: number, lastOffset: string) => {
      if (BigInt(lastOffset) + 1n >= (ends.get(partition) ?? 0n)) pending.delete(partition);
      if (pending.size === 0) finish();
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => progress(e.payload.partition, e.payload.lastOffset));
    consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
    const abort = () => fail(signal!.reason as Error);
    signal?.throwIfAborted();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) onRecord(toInbound(batch.topic, batch.partition, m));
        },
      });
      for (const s of starts) consumer.seek({ topic, partition: s.partition, offset: s.offset });
      await done;
    } finally {
      signal?.removeEventListener('abort', abort);
      await consumer.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.adminClient?.disconnect();
    this.adminClient = null;
  }
}
