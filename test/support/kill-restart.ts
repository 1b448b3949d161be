import { expect } from 'vitest';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { collectKeys } from './collector.ts';
import { startStageProcess, type StageProcess } from './process.ts';

/**
 * The crash scenario every exactly-once claim must survive: run `stages` as an OS process, feed
 * it `total` keyed records, SIGKILL it once a third of the output has arrived, start it again,
 * wait for every key, stop it cleanly, read the output to its end, and count.
 */
export async function killAndRestart(options: {
  kafka: KafkaAdapter;
  stages: string[];
  env: Record<string, string>;
  outputTopic: string;
  collectorGroup: string;
  total: number;
  /** starts feeding input once the first process runs; awaited before counting */
  feed: () => Promise<void>;
  label: string;
}): Promise<{ received: number; distinct: number; duplicated: number; atKill: number }> {
  const { kafka, total } = options;
  const processes: StageProcess[] = [];
  const collector = await collectKeys(kafka, options.collectorGroup, options.outputTopic);
  try {
    const first = startStageProcess(options.stages, options.env);
    processes.push(first);
    await first.running;
    const feeding = options.feed();
    await collector.waitFor(() => collector.total >= total * 0.3, 90_000, 'a third of the output');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const atKill = collector.total;

    const second = startStageProcess(options.stages, options.env);
    processes.push(second);
    await feeding;
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
