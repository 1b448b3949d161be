import { createHash, randomUUID } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ByteWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer';
import { type ErrorCode, PipelineError } from '../platform/errors.ts';
import type { RedisConnection } from '../platform/redis/client.ts';
import type { DailyChannel, DailyNotification } from '../platform/view/store.ts';
import { hasKeywords } from '../platform/notifications/resolve.ts';
import { v1Result } from './views.ts';

/**
 * The reference's daily metrics exports (`POST /metrics/sms`, `/metrics/email`; its
 * `MetricsService`, `get_sms_metrics`, `get_email_metrics`): one row per notification whose
 * result was last set on the day, as a Parquet file with the columns its records serialize to
 * (Parquet.Net's `ParquetSerializer`: a property's name, `long`/`int` required, `string` and
 * `int?` optional), and the headers it answers with.
 */

/**
 * A notification's number in the exports (the reference's row id, `sms_id` / `email_id`, which
 * this system does not have): the first 63 bits of its id, so the same notification has the same
 * number in every export. Those hold 59 random bits (a UUID's version is in them): two of a
 * million notifications share a number with a chance of about one in a million.
 */
export const numberOf = (notificationId: string): bigint =>
  BigInt(`0x${notificationId.replace(/-/g, '').slice(0, 16)}`) & 0x7fff_ffff_ffff_ffffn;

/** the reference's tariff group of a number: 'innland' for +47 / 0047, 'utland' otherwise, 'n/a' without one */
export function rateOf(mobileNumber: string | null): string {
  if (!mobileNumber) return 'n/a';
  return /^(\+|00) *47/.test(mobileNumber) ? 'innland' : 'utland';
}

/** characters, as PostgreSQL's length() counts them (code points) */
const length = (s: string) => [...s].length;

/** The columns of one export, in the reference's record order. */
interface Column {
  name: string;
  type: 'INT64' | 'INT32' | 'STRING';
  required: boolean;
  value: (n: DailyNotification) => bigint | number | string | null;
}

const common: Column[] = [
  { name: 'ShipmentId', type: 'STRING', required: false, value: (n) => n.order.orderId },
  { name: 'SendersReference', type: 'STRING', required: false, value: (n) => n.order.sendersReference },
  {
    name: 'RequestedSendTime',
    type: 'STRING',
    required: false,
    value: (n) => new Date(n.order.requestedSendTime).toISOString(),
  },
  { name: 'CreatorName', type: 'STRING', required: false, value: (n) => n.order.creator },
  { name: 'ResourceId', type: 'STRING', required: false, value: (n) => n.order.resourceId },
  { name: 'Result', type: 'STRING', required: false, value: (n) => v1Result(n.status) },
];

export const COLUMNS: Record<DailyChannel, Column[]> = {
  // DailySmsMetricsRecord
  sms: [
    { name: 'SmsId', type: 'INT64', required: true, value: (n) => numberOf(n.notificationId) },
    ...common,
    { name: 'GatewayReference', type: 'STRING', required: false, value: (n) => n.gatewayReference },
    { name: 'Rate', type: 'STRING', required: false, value: (n) => rateOf(n.destination) },
    { name: 'MobileNumberPrefix', type: 'STRING', required: false, value: (n) => n.destination?.slice(0, 4) ?? null },
    { name: 'AltinnSmsCount', type: 'INT32', required: true, value: (n) => n.smsCount ?? 1 },
    {
      name: 'AltinnSmsBodyLength',
      type: 'INT32',
      required: false,
      value: (n) => (n.order.smsTemplate ? length(n.order.smsTemplate.body) : null),
    },
    // (the reference reads a NULL length, a text without keywords, as 0)
    {
      name: 'AltinnSmsCustomBodyLength',
      type: 'INT32',
      required: true,
      value: (n) => (n.order.smsTemplate && hasKeywords(n.order.smsTemplate.body) ? (n.customBodyLength ?? 0) : 0),
    },
  ],
  // DailyEmailMetricsRecord
  email: [
    { name: 'EmailId', type: 'INT64', required: true, value: (n) => numberOf(n.notificationId) },
    ...common,
    { name: 'OperationId', type: 'STRING', required: false, value: (n) => n.gatewayReference },
  ],
};

export interface DailyExport {
  fileName: string;
  /**
   * The file, open for reading from its start. It has no name on disk (removed as soon as it was
   * made: gone when closed, or with the process): read it once, which closes it, or close it.
   */
  file: FileHandle;
  /** X-File-Size: its length in bytes */
  size: number;
  /** X-File-Hash: the file's MD5, base64 */
  hash: string;
  rows: number;
  /** X-Generated-At, as .NET's round-trip ("O") format writes a UTC DateTimeOffset */
  generatedAt: string;
  environment: string;
}

/** Rows per row group: each is encoded in one go (about 0.1 s of CPU for 10,000 rows), then the gateway's other requests take their turn. */
const ROW_GROUP = 10_000;

/**
 * hyparquet-writer's writer into an open file: a row group is encoded into memory, then written
 * at its place in the file and taken into the MD5 (ParquetWriter awaits `flush` before the next).
 */
class FileSink extends ByteWriter {
  private readonly md5 = createHash('md5');
  size = 0;
  constructor(private readonly fh: FileHandle) {
    super(1 << 20);
  }
  async flush(): Promise<void> {
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    this.md5.update(bytes);
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, this.size + done);
      done += bytesWritten;
    }
    this.size += bytes.length;
    this.index = 0;
  }
  override finish(): Promise<void> {
    return this.flush();
  }
  hash(): string {
    return this.md5.digest('base64');
  }
}

/**
 * A day's export of a channel (`day` YYYY-MM-DD) as the reference's Parquet file, from the view's
 * pages of it (`ViewStore.dailyPages`). Written to a file in the temporary directory (TMPDIR; the
 * chart's /tmp), not memory: a day of a national peak is millions of rows, and the reference's
 * headers (size, hash, rows) come before the body. What is held at once is a row group. Stops
 * with the signal's reason when it is aborted (the client went away).
 */
export async function dailyExport(
  channel: DailyChannel,
  day: string,
  pages: AsyncIterable<DailyNotification[]>,
  environment: string,
  now: number,
  signal?: AbortSignal,
): Promise<DailyExport> {
  const columns = COLUMNS[channel];
  const schema = schemaFromColumnData({
    columnData: columns.map((c) => ({ name: c.name, type: c.type, nullable: !c.required, data: [] })),
  });
  const path = join(tmpdir(), `daily-export-${randomUUID()}.parquet`);
  const fh = await open(path, 'wx+', 0o600);
  try {
    await unlink(path);
    const sink = new FileSink(fh);
    const parquet = new ParquetWriter({ writer: sink, schema, createdBy: 'altinn-notifications-kafka' });
    let group: DailyNotification[] = [];
    let rows = 0;
    const write = async () => {
      await parquet.write({
        columnData: columns.map((c) => ({ name: c.name, data: group.map(c.value) })),
        rowGroupSize: ROW_GROUP,
      });
      rows += group.length;
      group = [];
    };
    for await (const page of pages) {
      signal?.throwIfAborted();
      for (const n of page) {
        group.push(n);
        if (group.length === ROW_GROUP) await write();
      }
    }
    if (group.length) await write();
    await parquet.finish();
    return {
      fileName: `${day.replace(/-/g, '')}_${channel}_notifications_${environment}.parquet`,
      file: fh,
      size: sink.size,
      hash: sink.hash(),
      rows,
      generatedAt: new Date(now).toISOString().replace('Z', '0000+00:00'),
      environment,
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** What an export is of. */
export interface ExportJob {
  channel: DailyChannel;
  day: string;
  environment: string;
  /** when it is made (X-Generated-At), ms */
  now: number;
}

/** Where an export worker reads the view, and how much heap it may take. */
export interface ExportStore {
  /** plain data: it crosses into the worker */
  redis: RedisConnection;
  /** the view's key prefix (REDIS_PREFIX, else TOPIC_PREFIX) */
  prefix: string;
  /** DAILY_EXPORT_HEAP_MB: the worker's old generation; an export that needs more fails, the gateway does not */
  heapMb: number;
}

/** A worker's one message: the export made (its file moved along with it), or why not. */
export type WorkerAnswer =
  | { done: Omit<DailyExport, 'file'>; file: FileHandle }
  | { error: { message: string; code?: ErrorCode; retriable?: boolean } };

export type ExportDay = (job: ExportJob, signal: AbortSignal) => Promise<DailyExport>;

/** An export whose worker ran out of its heap (DAILY_EXPORT_HEAP_MB): the day is larger than this gateway may make. */
export class ExportTooLarge extends Error {
  constructor(readonly heapMb: number) {
    super(`the daily export needed more than its ${heapMb} MB of heap (DAILY_EXPORT_HEAP_MB)`);
  }
}

/**
 * Makes each export in a worker thread of its own (`export-worker.ts`), so the gateway's thread
 * stays free for its requests while a day of millions of rows is read and encoded (on its own
 * thread a 10,000-row group held every request up to 0.2 s, and the whole export took the
 * thread), and an export that outgrows its heap (`heapMb`) ends its worker, not the gateway.
 * Aborting the signal stops the worker at its next page; the promise then rejects.
 */
export function exportInWorker(store: ExportStore): ExportDay {
  return (job, signal) =>
    new Promise<DailyExport>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const worker = new Worker(new URL('./export-worker.mjs', import.meta.url), {
        workerData: { ...store, ...job },
        resourceLimits: { maxOldGenerationSizeMb: store.heapMb },
      });
      let answered = false;
      const abort = () => worker.postMessage('abort');
      signal.addEventListener('abort', abort, { once: true });
      worker.once('message', (m: WorkerAnswer) => {
        answered = true;
        if ('done' in m) return resolve({ ...m.done, file: m.file });
        const { message, code, retriable } = m.error;
        reject(code ? new PipelineError(code, message, { retriable: retriable ?? false }) : new Error(message));
      });
      worker.once('error', (e) => {
        answered = true;
        reject((e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? new ExportTooLarge(store.heapMb) : e);
      });
      worker.once('exit', (code) => {
        signal.removeEventListener('abort', abort);
        if (!answered) reject(new Error(`the daily export's worker exited (${code}) without an answer`));
      });
    });
}
