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
      help: 'Records between the committed position and the high watermark, per input partition',
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
