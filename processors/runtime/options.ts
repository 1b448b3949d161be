import { hostname } from 'node:os';
import { z } from 'zod';
import { int } from '../../platform/config-kit.ts';

/** The stage runtime: transactions, retries, consumption, the ops server, shutdown, and the releasers of deferring stages. */
export const runtimeOptions = z.object({
  /** HTTP port for /health and /metrics of the stage process; 0 picks a free port */
  STAGE_HTTP_PORT: int(9464).pipe(z.number().min(0).max(65535)),
  /** address /health and /metrics of the stage process listen on (0.0.0.0 in a container, so probes and Prometheus reach them) */
  STAGE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  /** how long SIGTERM may take to drain a stage process or the gateway (stages give up waiting on Kafka after three quarters of it, the gateway cuts requests still open at half of what its GATEWAY_SHUTDOWN_DELAY_MS leaves; a process still not done exits 75) */
  SHUTDOWN_TIMEOUT_MS: int(30_000).pipe(z.number().min(1_000)),
  /** first retry delay, ms */
  RETRY_INITIAL_MS: int(200).pipe(z.number().min(1)),
  /** longest retry delay, ms */
  RETRY_MAX_MS: int(30_000).pipe(z.number().min(1)),
  /** attempts for a retriable failure before it is dead-lettered; 0 = retry until it works */
  RETRY_MAX_ATTEMPTS: int(0).pipe(z.number().min(0)),
  /** attempts for an unexpected (unclassified) failure before it is dead-lettered */
  UNEXPECTED_MAX_ATTEMPTS: int(5).pipe(z.number().min(1)),
  /** most input records handled in one Kafka transaction */
  TRANSACTION_MAX_RECORDS: int(2000).pipe(z.number().min(1)),
  /**
   * longest a transaction stays open while records are added, ms: a slow stage (a sender at its
   * provider's pace) commits at least this often, so its progress shows and a crash replays less
   */
  TRANSACTION_MAX_MS: int(5_000).pipe(z.number().min(100)),
  /**
   * most output bytes in one transaction: kafkajs sends a partition's records as one batch, which
   * the broker refuses above its max.message.bytes (1 MiB by default)
   */
  TRANSACTION_MAX_BYTES: int(512 * 1024).pipe(z.number().min(1024)),
  /**
   * what one Kafka transaction of a stage covers: `partition`, a transactional producer per
   * input partition (fenced by its transactional id; a fetch of six partitions costs six
   * transactions); `instance`, one producer per stage instance for all its partitions, fenced by
   * the consumer group's generation (KIP-447), commits asked for while one is under way merged
   * into the next (the default: it costs a fetch one transaction, not one per partition)
   */
  TRANSACTION_SCOPE: z.enum(['partition', 'instance']).default('instance'),
  /**
   * the Kafka transaction timeout of a stage's producers, ms: how long a transaction left open by
   * an instance that died (and does not come back under its INSTANCE_ID) holds its partitions'
   * new owners and the readers of what it wrote, until the coordinator aborts it (plus the
   * broker's check interval, transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by
   * default); a transaction lasts from its first send to its commit, well under a second. Kafka
   * Streams uses 10 s under exactly-once for the same reason. At most 30 s, which
   * SCHEDULER_PASS_LEASE_MS outlasts.
   */
  TRANSACTION_TIMEOUT_MS: int(10_000).pipe(z.number().min(1_000).max(30_000)),
  /**
   * this process's name among its stages' instances, part of their transactional ids with
   * TRANSACTION_SCOPE=instance: unique among running instances, and the same after a restart so
   * the restarted instance settles the transaction it left open at once (a new name leaves it to
   * TRANSACTION_TIMEOUT_MS, while its partitions' new owners wait). Default: host name and
   * process id (a container's restart keeps both; set it to the pod name in Kubernetes)
   */
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, ".", "_" and "-", at most 100')
    .default(`${hostname()}-${process.pid}`),
  /** largest single output record; a larger one is dead-lettered (keep under max.message.bytes) */
  MAX_RECORD_BYTES: int(1_000_000).pipe(z.number().min(1024)),
  /** how long the group waits for a silent stage process before moving its partitions, ms (6 000–300 000) */
  CONSUMER_SESSION_TIMEOUT_MS: int(10_000).pipe(z.number().min(6_000).max(300_000)),
  /** a stage's fetch waits for this many bytes (or CONSUMER_FETCH_MAX_WAIT_MS): bigger, fewer transactions */
  CONSUMER_FETCH_MIN_BYTES: int(65_536).pipe(z.number().min(1)),
  /**
   * longest a stage's fetch right after records waits for CONSUMER_FETCH_MIN_BYTES, ms (added
   * latency per hop under light load; once a fetch brought nothing, CONSUMER_FETCH_IDLE_WAIT_MS applies)
   */
  CONSUMER_FETCH_MAX_WAIT_MS: int(100).pipe(z.number().min(0)),
  /**
   * after a fetch from a broker brought nothing, a stage's next fetch from it returns with the
   * first record there or after this long, ms: what an idle stage (or lane) costs the brokers
   * and itself, and how long a drain or a rebalance may wait for a fetch under way; 0: off (every
   * fetch waits for CONSUMER_FETCH_MIN_BYTES or CONSUMER_FETCH_MAX_WAIT_MS, idle or not)
   */
  CONSUMER_FETCH_IDLE_WAIT_MS: int(3_000).pipe(z.number().min(0).max(5_000)),
  /**
   * a lane's fetch (a sender's instant lane) returns as soon as one record is there; a fetch right
   * after records returns after this long if none came, ms (idle, CONSUMER_FETCH_IDLE_WAIT_MS applies)
   */
  LANE_FETCH_MAX_WAIT_MS: int(500).pipe(z.number().min(0).max(5_000)),
  /**
   * how often a stage samples its consumer lag (records on its assigned partitions it has not
   * read yet, transaction markers not counted), ms: the gauge rises while a stage is stalled
   */
  LAG_SAMPLE_INTERVAL_MS: int(15_000).pipe(z.number().min(100)),
  /**
   * how long a stage instance may have records waiting on its partitions while it handles and
   * commits none before its /health fails (a client or commit stuck: a restart is the cure), ms.
   * Judged at each lag sample, and only while Kafka answers: an outage is not the process's fault.
   * Also how long a try of a start-up step (a stage process's, the gateway's) may go on before
   * /health/live fails (startupSteps)
   */
  STAGE_STALL_LIMIT_MS: int(120_000).pipe(z.number().min(1_000)),
  /** input partitions a stage processes at the same time */
  PARTITIONS_CONCURRENTLY: int(6).pipe(z.number().min(1)),
  /** how long a claimed schedule item is held before it counts as abandoned, ms */
  SCHEDULER_LEASE_MS: int(30_000).pipe(z.number().min(1_000)),
  /** most due orders released in one transaction */
  SCHEDULER_BATCH_SIZE: int(500).pipe(z.number().min(1)),
  /** release transactions under way at once, each from its own transactional producer (1–8) */
  SCHEDULER_RELEASE_LANES: int(3).pipe(z.number().min(1).max(8)),
  /** longest sleep between looks at the schedule, ms (bounds release lateness) */
  SCHEDULER_POLL_MS: int(200).pipe(z.number().min(10)),
  /** releaser leadership term unless renewed, ms (a successor waits this long after a crash) */
  SCHEDULER_LEADER_TTL_MS: int(10_000).pipe(z.number().min(1_000)),
  /**
   * how long a schedule store remembers that an item was released or cancelled, seconds (default
   * 30 days): a replay of the input topic from before then (a consumer group reset) could release
   * it again; ./dev rebuild-schedules reads what was released from the topics instead
   */
  SCHEDULE_FINAL_RETENTION_S: int(30 * 24 * 3600).pipe(z.number().min(3600)),
  /**
   * when a stage's claim of an order it passes on at once (due already) counts as abandoned, ms;
   * must outlast the stages' Kafka transaction timeout (TRANSACTION_TIMEOUT_MS, at most 30 s) and the broker's check for
   * timed-out transactions (10 s), so that claim's transaction is over by then
   */
  SCHEDULER_PASS_LEASE_MS: int(120_000).pipe(z.number().min(45_000)),
});
