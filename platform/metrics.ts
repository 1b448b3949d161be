import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics every stage reports, labelled by stage (and topic where it matters). */
export function createStageMetrics(registry: Registry) {
  return {
    consumed: new Counter({
      name: 'pipeline_records_consumed_total',
      help: 'Records read from the input topic',
      labelNames: ['stage', 'topic'] as const,
      registers: [registry],
    }),
    produced: new Counter({
      name: 'pipeline_records_produced_total',
      help: 'Records written to output topics (committed transactions only)',
      labelNames: ['stage', 'topic'] as const,
      registers: [registry],
    }),
    retried: new Counter({
      name: 'pipeline_records_retried_total',
      help: 'Retry attempts after a retriable failure',
      labelNames: ['stage', 'code'] as const,
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'pipeline_records_dead_lettered_total',
      help: 'Records sent to the dead-letter topic',
      labelNames: ['stage', 'code'] as const,
      registers: [registry],
    }),
    handlerLatency: new Histogram({
      name: 'pipeline_handler_duration_seconds',
      help: 'Time in the stage handler per record',
      labelNames: ['stage'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    transactionLatency: new Histogram({
      name: 'pipeline_transaction_duration_seconds',
      help: 'Time from a partition asking for a commit to its Kafka transaction committing (produce, send offsets, commit), per input partition: per instance, the partitions one transaction carries each observe it',
      labelNames: ['stage'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'pipeline_consumer_lag',
      help: 'Records on an assigned input partition not yet read (sampled on a timer; transaction markers not counted)',
      labelNames: ['stage', 'topic', 'partition'] as const,
      registers: [registry],
    }),
    inputPartitions: new Gauge({
      name: 'pipeline_input_partitions',
      help: "Partitions of the stage's input topic (every instance reports it; sampled with the lag)",
      labelNames: ['stage', 'topic'] as const,
      registers: [registry],
    }),
    stalled: new Gauge({
      name: 'pipeline_stage_stalled_seconds',
      help: 'How long this instance has had records waiting on its partitions and handled and committed none (0 while it makes progress or has nothing to do; sampled with the lag). Past STAGE_STALL_LIMIT_MS its /health fails',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    partitionsAssigned: new Gauge({
      name: 'pipeline_partitions_assigned',
      help: "Input partitions assigned to this instance (summed over a stage's instances, less than pipeline_input_partitions means a partition without a consumer)",
      labelNames: ['stage', 'topic'] as const,
      registers: [registry],
    }),
  };
}

export type StageMetrics = ReturnType<typeof createStageMetrics>;

export function createRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The process's Kafka requests that were answered, by client and API (Produce, Fetch,
 * AddPartitionsToTxn, EndTxn, Heartbeat, …), and how long each waited for its answer: requests
 * per record say how well records are batched (every transaction is five requests besides the
 * fetches; a burst carries many records in each, a steady trickle few), the figure to watch when
 * throughput or broker CPU changes; the waits say which broker call a slow stage waits on (a
 * Fetch waits up to the long poll by design: read the others). For `KafkaAdapter`'s `onRequest`.
 */
export function kafkaRequestMetrics(registry: Registry): (client: string, api: string, durationMs: number) => void {
  const requests = new Counter({
    name: 'kafka_client_requests_total',
    help: 'Kafka requests answered, by client (producer, consumer, admin) and API',
    labelNames: ['client', 'api'] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'kafka_client_request_duration_seconds',
    help: 'Time from a Kafka request sent to its answer, by client and API (a Fetch includes its long poll)',
    labelNames: ['client', 'api'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // one child of each per label pair, found without building the label object each time
  const children = new Map<
    string,
    { count: ReturnType<typeof requests.labels>; took: ReturnType<typeof durations.labels> }
  >();
  return (client, api, durationMs) => {
    const key = `${client} ${api}`;
    let child = children.get(key);
    if (!child) {
      child = { count: requests.labels({ client, api }), took: durations.labels({ client, api }) };
      children.set(key, child);
    }
    child.count.inc();
    child.took.observe(durationMs / 1000);
  };
}

/**
 * What became of notifications and orders, and how long hand-off took: one set per registry
 * (stages that share a process share it), counted by the stages that know (the senders at the
 * hand-off, status-view once a status event's transaction commits).
 */
function makeNotificationMetrics(registry: Registry) {
  return {
    handedOff: new Counter({
      name: 'notifications_handed_off_total',
      help: 'Notifications the provider accepted (SMTP accepted the message; the SMSC accepted submit_sm)',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    final: new Counter({
      name: 'notifications_final_total',
      help: 'Notifications that reached a final status, by channel and result (Delivered, Failed_*, Failed_TTL)',
      labelNames: ['channel', 'result'] as const,
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: 'notifications_fallback_total',
      help: 'Notifications sent on the other channel because every notification of their recipient on the preferred channel failed (an extension), by the channel they are sent on',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    ordersFinal: new Counter({
      name: 'orders_final_total',
      help: 'Orders that reached a final status (Order_Completed, Order_Cancelled, Order_Rejected, Order_SendConditionNotMet)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    handOffLatency: new Histogram({
      name: 'notifications_handoff_latency_seconds',
      help: "From a notification's requested send time (its order's acceptance, unless sent later on request) to the provider's acceptance",
      labelNames: ['channel'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'notifications_delivery_latency_seconds',
      help: "From a notification's requested send time to its delivery report (Delivered), by channel",
      labelNames: ['channel'] as const,
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 48 * 3600],
      registers: [registry],
    }),
  };
}

/**
 * `make`'s metrics made once per registry and shared by every caller after (prom-client refuses
 * a second metric of one name in a registry; several stages or releasers may share a process).
 */
function oncePerRegistry<M>(make: (registry: Registry) => M): (registry: Registry) => M {
  const made = new WeakMap<Registry, M>();
  return (registry) => {
    let m = made.get(registry);
    if (m === undefined) made.set(registry, (m = make(registry)));
    return m;
  };
}

export type NotificationMetrics = ReturnType<typeof makeNotificationMetrics>;
/** The notification and order results, and the latencies, one set per registry. */
export const notificationMetrics: (registry: Registry) => NotificationMetrics =
  oncePerRegistry(makeNotificationMetrics);

/** What the providers' connections are doing, read at scrape time from the clients registered. */
export interface SmppSource {
  readonly isBound: boolean;
  readonly inFlight: number;
}
export interface SmtpSource {
  readonly inFlight: number;
  readonly poolSize: number;
}

function makeProviderMetrics(registry: Registry) {
  const smpp = new Set<SmppSource>();
  const smtp = new Set<SmtpSource>();
  const sum = <T>(set: Set<T>, f: (x: T) => number) => [...set].reduce((n, x) => n + f(x), 0);
  new Gauge({
    name: 'smpp_sessions_bound',
    help: 'SMPP sessions of this process that are bound (0 while the SMSC is unreachable or refuses the bind)',
    registers: [registry],
    collect() {
      this.set(sum(smpp, (c) => (c.isBound ? 1 : 0)));
    },
  });
  new Gauge({
    name: 'smpp_window_in_use',
    help: "submit_sm written and not answered yet (this process's share of the account's window)",
    registers: [registry],
    collect() {
      this.set(sum(smpp, (c) => c.inFlight));
    },
  });
  const smsProviders = new Map<string, () => boolean>();
  new Gauge({
    name: 'sms_provider_up',
    help: 'Whether an SMS provider takes SMS now (1), or is out of its routes (0: bind down, throttled, or its receipts stopped)',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [provider, up] of smsProviders) this.set({ provider }, up() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'smtp_connections_in_use',
    help: 'Messages handed to the SMTP pool and not answered yet',
    registers: [registry],
    collect() {
      this.set(sum(smtp, (c) => c.inFlight));
    },
  });
  new Gauge({
    name: 'smtp_pool_size',
    help: 'SMTP connections the pool may open',
    registers: [registry],
    collect() {
      this.set(sum(smtp, (c) => c.poolSize));
    },
  });
  return {
    smpp,
    smtp,
    /** each SMS provider's name, and whether it takes SMS now */
    smsProviders,
    submits: new Counter({
      name: 'smpp_submits_total',
      help: 'submit_sm outcomes (accepted, error: the SMSC refused it, unsent, uncertain: no answer); rate() is submits per second',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    dependencyCalls: new Histogram({
      name: 'dependency_request_seconds',
      help: 'Calls to the registries and to condition endpoints, by dependency and outcome (ok, error)',
      labelNames: ['dependency', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export type ProviderMetrics = ReturnType<typeof makeProviderMetrics>;
/** The SMPP, SMTP and dependency-call metrics of a process, one set per registry. */
export const providerMetrics: (registry: Registry) => ProviderMetrics = oncePerRegistry(makeProviderMetrics);

/** Times calls to a dependency (`registry`, `condition-endpoint`) into dependency_request_seconds. */
export function dependencyObserver(registry: Registry, dependency: string) {
  const calls = providerMetrics(registry).dependencyCalls;
  return (seconds: number, outcome: 'ok' | 'error') => calls.observe({ dependency, outcome }, seconds);
}

/** A delivery report, timed from the notification's requested send time (when the ref has it). */
export function deliveryMetric(registry: Registry, channel: 'email' | 'sms', clock: () => number = Date.now) {
  const latency = notificationMetrics(registry).deliveryLatency.labels({ channel });
  return (requestedSendTime: number | undefined) => {
    if (requestedSendTime !== undefined) latency.observe(Math.max(0, clock() - requestedSendTime) / 1000);
  };
}

function makeReleaserMetrics(registry: Registry) {
  return {
    released: new Counter({
      name: 'scheduler_released_total',
      help: "Scheduled items published (published) or found published on reconciliation (reconciled); and cancellations' Order_Cancelled events the leader published because their gateway did not (announced)",
      labelNames: ['releaser', 'outcome'] as const,
      registers: [registry],
    }),
    lateness: new Histogram({
      name: 'scheduler_release_lateness_seconds',
      help: 'Time from an item being due to its release committing',
      labelNames: ['releaser'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    backlog: new Gauge({
      name: 'scheduler_backlog_items',
      help: 'Items in a schedule by state (waiting: not due yet; due: due, not claimed; leased: being released; passing: claimed by a stage to pass on), sampled by its releaser leader',
      labelNames: ['releaser', 'state'] as const,
      registers: [registry],
    }),
  };
}

function makeFairShareMetrics(registry: Registry) {
  return {
    paced: new Counter({
      name: 'scheduler_fair_share_paced_total',
      help: 'Notifications the scheduler held past their send time because their creator was over its fair share of the channel',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    wait: new Histogram({
      name: 'scheduler_fair_share_wait_seconds',
      help: 'How long past its send time an order of a creator over its fair share was held, by channel',
      labelNames: ['channel'] as const,
      buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200],
      registers: [registry],
    }),
    sendBacklog: new Gauge({
      name: 'scheduler_fair_share_send_backlog',
      help: "Notifications waiting for the channel's senders (their queue's consumer lag), as the releaser's gate for paced orders last read it",
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
  };
}

function makeReplicaWaitMetrics(registry: Registry) {
  return {
    waits: new Counter({
      name: 'redis_replica_waits_total',
      help: "Writes waited for on Redis replicas (REDIS_WAIT_REPLICAS), by use (send-ledger: the senders' claims and delivery references; schedule: scheduled items and the gateway's cancellations; view: the stages' writes to the status view; idempotency: the gateway's idempotency claims) and outcome: held (enough replicas hold them), short (too few in time: the hand-over or the record is tried later, the cancellation or the order answered 503), failed (the wait failed or was refused); 0 while the setting is 0",
      labelNames: ['use', 'outcome'] as const,
      registers: [registry],
    }),
  };
}

/** The waits for Redis replicas, one set per registry. */
export const replicaWaitMetrics: (registry: Registry) => ReturnType<typeof makeReplicaWaitMetrics> =
  oncePerRegistry(makeReplicaWaitMetrics);

/** The fair share's metrics (the scheduler's pacing), one set per registry. */
export const fairShareMetrics: (registry: Registry) => ReturnType<typeof makeFairShareMetrics> =
  oncePerRegistry(makeFairShareMetrics);

/** The releasers' metrics, one set per registry (several releasers may share a process). */
export const releaserMetrics: (registry: Registry) => ReturnType<typeof makeReleaserMetrics> =
  oncePerRegistry(makeReleaserMetrics);
