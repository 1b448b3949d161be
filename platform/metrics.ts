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
      help: 'Time to produce, send offsets and commit one transaction',
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
  };
}

export type StageMetrics = ReturnType<typeof createStageMetrics>;

export function createRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return registry;
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
  };
}

export type NotificationMetrics = ReturnType<typeof makeNotificationMetrics>;
const notificationMetricsByRegistry = new WeakMap<Registry, NotificationMetrics>();

export function notificationMetrics(registry: Registry): NotificationMetrics {
  let m = notificationMetricsByRegistry.get(registry);
  if (!m) notificationMetricsByRegistry.set(registry, (m = makeNotificationMetrics(registry)));
  return m;
}
