import { expect } from 'vitest';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { collectKeys } from './collector.ts';
import { startStageProcess, type StageProcess } from './process.ts';

/**
 * The crash scenario every exactly-once claim must survive: run `stages` as an OS process, feed
 * it the first 60 % of `total` keyed records, SIGKILL it once 30 % of the output has arrived
 * (so the kill always lands mid-stream, however fast the stage runs), feed the rest, start it
 * again, wait for every key, stop it cleanly, read the output to its end, and count.
 */
export async function killAndRestart(options: {
  kafka: KafkaAdapter;
  stages: string[];
  env: Record<string, string>;
  outputTopic: string;
  collectorGroup: string;
  total: number;
  /** publishes input records [from, to) (acknowledged when it resolves) */
  feed: (from: number, to: number) => Promise<void>;
  label: string;
}): Promise<{ received: number; distinct: number; duplicated: number; atKill: number }> {
  const { kafka, total } = options;
  const processes: StageProcess[] = [];
  const collector = await collectKeys(kafka, options.collectorGroup, options.outputTopic);
  try {
    const first = startStageProcess(options.stages, options.env);
    processes.push(first);
    await first.running;
    const before = Math.floor(total * 0.6);
    const feeding = options.feed(0, before);
    await collector.waitFor(() => collector.total >= total * 0.3, 90_000, '30 % of the output');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const atKill = collector.total;
    await feeding;
    const after = options.feed(before, total);

    const second = startStageProcess(options.stages, options.env);
    processes.push(second);
    await after;
    await collector.waitFor(() => collector.distinct >= total, 150_000, `${total} distinct records downstream`);
    // (the first process may have committed all of it already: the second must still start)
    await second.running;
    // Stop cleanly, then read the output to its end: a duplicate written at any point now counts.
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    await collector.readTo(await kafka.topicEndOffsets(options.outputTopic), 60_000);

    const result = {
      received: collector.total,
      distinct: collector.distinct,
      duplicated: collector.duplicated,
      atKill,
    };
    console.log(
      `${options.label}: ${total} in, ${result.received} out, ${result.distinct} distinct, ` +
        `${result.duplicated} duplicated, SIGKILL after ${atKill}`,
    );
    return result;
  } finally {
    for (const p of processes) p.child.kill('SIGKILL');
    await collector.stop();
  }
}
