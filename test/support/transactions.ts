import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stackEnv } from './stack.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

export interface OpenTransaction {
  /** (caught by `stopInsideTransaction`) how many times it stopped the process to catch it */
  stops?: number;
  transactionalId: string;
  producerId: number;
  epoch: number;
  /** when the transaction began (its first partition added), ms */
  startedAt: number;
  timeoutMs: number;
  /**
   * its partitions; those of Kafka's own topics without offsets, the others with their last
   * stable offset (where read-committed readers stop) and end offset: stable < end while a
   * transaction holds records there
   */
  partitions: { topic: string; partition: number; stable?: number; end?: number }[];
}

function java(args: string[], timeout: number) {
  const classpath = process.env.KAFKA_CLASSPATH;
  if (!classpath) throw new Error('KAFKA_CLASSPATH unset: run the tests with ./dev test');
  return run(
    'java',
    ['-cp', classpath, join(root, 'test/support/java/OpenTransactions.java'), stackEnv().KAFKA_BROKERS, ...args],
    { timeout },
  );
}

const parse = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as OpenTransaction);

/**
 * Stops the process `pid` (SIGSTOP) while a transaction whose id contains `part` holds records
 * open (just after one committed to `topic`), and returns that transaction as seen after the stop; null if none was caught in a
 * minute (the process then runs on). The broker's coordinators describe the transactions
 * (Kafka's Admin API, KIP-664, through its Java client: `java/OpenTransactions.java`, run by
 * Java's source launcher on the stack's Kafka jars).
 */
export async function stopInsideTransaction(
  part: string,
  pid: number,
  /** the topic it writes to */
  topic: string,
): Promise<OpenTransaction | null> {
  try {
    return parse((await java([part, '--stop', String(pid), topic], 90_000)).stdout)[0] ?? null;
  } catch (err) {
    if ((err as { code?: number }).code === 3) return null;
    throw err;
  }
}
