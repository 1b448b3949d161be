import { parentPort, workerData } from 'node:worker_threads';
import { PipelineError } from '../platform/errors.ts';
import { createLogger } from '../platform/logger.ts';
import { createRedis } from '../platform/redis/client.ts';
import { ViewStore } from '../platform/view/store.ts';
import { dailyExport, type ExportJob, type ExportStore, type WorkerAnswer } from './daily-metrics.ts';

/**
 * A daily export in a worker thread of its own (`exportInWorker` in daily-metrics.ts starts it):
 * it reads the day from Redis with a connection of its own and writes the file, then hands the
 * open file to the gateway's thread (a FileHandle moves between threads of one process) and
 * ends. `'abort'` from the gateway stops it at its next page.
 */
const job = workerData as ExportJob & ExportStore;
const port = parentPort!;
const stop = new AbortController();
port.on('message', (m) => {
  if (m === 'abort') stop.abort(new Error('the client went away'));
});
// (a lost connection fails the export's calls, which answer for it; it is logged at warn by a
// logger of the thread's own: the gateway's cannot cross into a worker)
const redis = createRedis(job.redis, createLogger({ level: 'warn', name: 'daily-export' }));
try {
  const view = new ViewStore(redis, job.prefix);
  const made = await dailyExport(
    job.channel,
    job.day,
    view.dailyPages(job.channel, job.day),
    job.environment,
    job.now,
    stop.signal,
  );
  const { file, ...meta } = made;
  port.postMessage({ done: meta, file } satisfies WorkerAnswer, [file]);
} catch (e) {
  const error =
    e instanceof PipelineError
      ? { message: e.message, code: e.code, retriable: e.retriable }
      : { message: (e as Error)?.message ?? String(e) };
  port.postMessage({ error } satisfies WorkerAnswer);
} finally {
  redis.disconnect();
  port.close();
}
