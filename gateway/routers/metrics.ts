import { pipeline } from 'node:stream/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Counter, Gauge, type Registry } from 'prom-client';
import { DAILY_RETENTION_MS, dayOf, type MonthlyMetrics, type ViewStore } from '../../platform/view/store.ts';
import { type DailyExport, type ExportDay, ExportTooLarge } from '../daily-metrics.ts';
import { metricsApiKey } from '../http/api-key.ts';
import { sendProblem, sendValidationProblem } from '../problems.ts';
import { type Slots, SlotsFull } from '../http/slots.ts';
import { formBody, requireForm } from '../http/body.ts';
import { otherMethods } from '../routes.ts';
import type { Logger } from '../../platform/logger.ts';

export interface MetricsDeps {
  view: Pick<ViewStore, 'monthlyMetrics'>;
  /** makes a daily export (`exportInWorker`: in a worker thread of its own) */
  exportDay: ExportDay;
  clock: () => number;
  /** METRICS_API_KEY: what `X-API-Key` must be; unset, every request is refused */
  apiKey?: string;
  /** METRICS_ENVIRONMENT: the daily exports' environment name (unset: "Unknown", as the reference) */
  environment?: string;
  /**
   * how many daily exports this gateway builds at once, and how many more may wait for a turn
   * (DAILY_EXPORT_CONCURRENCY, DAILY_EXPORT_QUEUE); beyond, 429 with Retry-After
   */
  exports: Slots;
  metrics: Registry;
  log: Logger;
}

/** what a refused export's Retry-After says, s (an export of half a million rows took 13-17 s here) */
export const EXPORT_RETRY_AFTER_S = 30;

const DAY_MS = 24 * 3600 * 1000;

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/**
 * The reference's business metrics page (`MetricsController`, `Views/Metrics/Index.cshtml`):
 * `GET /metrics` a form to choose a month and year (this year and the five before), `POST
 * /metrics` with the form's `month` and `year` the page with that month's counts per creator
 * (`ViewStore.monthlyMetrics`), or, asked with `Accept: application/json`, the reference's
 * `MonthlyNotificationMetrics` as JSON. The reference leaves the page without authentication
 * (its deployment keeps it internal); here it asks for the `X-API-Key` the reference's metrics
 * exports ask for, with their answers (`MetricsApiKeyFilter`), compared in constant time.
 *
 * `POST /metrics/sms` and `/metrics/email`: the reference's daily exports, a Parquet file of the
 * channel's notifications whose result was last set yesterday (UTC), with its headers
 * (`gateway/daily-metrics.ts`); `?date=YYYY-MM-DD` (an extension) asks for another of the last
 * days the view keeps, or today's so far.
 */
export function metricsRouter(d: MetricsDeps) {
  const router = express.Router();
  const path = '/metrics';
  const key = metricsApiKey(d.apiKey);
  new Gauge({
    name: 'gateway_daily_exports',
    help: 'Daily metrics exports this gateway is building (running) or that wait for a turn (waiting)',
    labelNames: ['state'],
    registers: [d.metrics],
    collect() {
      this.set({ state: 'running' }, d.exports.running);
      this.set({ state: 'waiting' }, d.exports.queued);
    },
  });
  const refused = new Counter({
    name: 'gateway_daily_exports_refused_total',
    help: 'Daily metrics exports answered 429 because every slot was taken and the queue was full',
    labelNames: ['channel'],
    registers: [d.metrics],
  });
  router.use(path, (req: Request, res: Response, next: NextFunction) =>
    req.path === '/' ? key(req, res, next) : next(),
  );
  for (const channel of ['sms', 'email'] as const) {
    router.post(`${path}/${channel}`, key, async (req: Request, res: Response) => {
      const now = d.clock();
      const day = dayAsked(req.query.date, now);
      if (typeof day !== 'string') return sendValidationProblem(res, day);
      // (a client that goes away stops the export: res closes before anything was sent)
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      // (a turn covers building the file, the CPU and memory of an export; sending it does not)
      let release: () => void;
      try {
        release = await d.exports.acquire(gone.signal);
      } catch (e) {
        if (gone.signal.aborted) return;
        if (!(e instanceof SlotsFull)) throw e;
        refused.inc({ channel });
        res.set('Retry-After', String(EXPORT_RETRY_AFTER_S));
        return sendProblem(res, {
          status: 429,
          title: 'Too Many Requests',
          detail: `Too many daily exports at once: ${e.capacity} being made and ${e.queue} waiting, the most this gateway takes. Try again later.`,
        });
      }
      let file: DailyExport;
      try {
        // (the time the file says it was made: when it began, not when the request came)
        const job = { channel, day, environment: d.environment ?? 'Unknown', now: d.clock() };
        file = await d.exportDay(job, gone.signal);
      } catch (e) {
        if (gone.signal.aborted) return;
        if (!(e instanceof ExportTooLarge)) throw e;
        d.log.error({ heapMb: e.heapMb, channel, day }, e.message);
        return sendProblem(res, {
          status: 500,
          title: 'Internal Server Error',
          detail:
            "The day's export needs more memory than this gateway may give one; its operator can raise DAILY_EXPORT_HEAP_MB.",
        });
      } finally {
        release();
      }
      res.set({
        'X-File-Hash': file.hash,
        'X-File-Size': String(file.size),
        'X-Total-FileTransfer-Count': String(file.rows),
        'X-Generated-At': file.generatedAt,
        'X-Environment': file.environment,
        // as ASP.NET's File(…, fileName) writes it (the name is letters, digits, _ - and .: no quoting)
        'Content-Disposition': `attachment; filename=${file.fileName}; filename*=UTF-8''${file.fileName}`,
        'Content-Length': String(file.size),
      });
      res.type('application/octet-stream');
      // (the stream closes the file, when read or when the client goes away mid-way)
      await pipeline(file.file.createReadStream({ start: 0 }), res).catch((e: unknown) => {
        if (!res.destroyed) throw e;
      });
    });
    router.use(`${path}/${channel}`, otherMethods(['POST']));
  }
  router.get(path, (_req: Request, res: Response) => {
    res.type('html').send(page(yearsTo(d.clock()), null));
  });
  router.post(path, requireForm, formBody(4096), async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const errors: Record<string, string[]> = {};
    const month = formInt(body, 'month', 1, 12, errors);
    const year = formInt(body, 'year', 1, 9999, errors);
    if (month === null || year === null) return sendValidationProblem(res, errors);
    const metrics = await d.view.monthlyMetrics(month, year);
    if (req.accepts(['html', 'json']) === 'json') return void res.json(metrics);
    res.type('html').send(page(yearsTo(d.clock()), metrics));
  });
  router.use(path, otherMethods(['GET', 'HEAD', 'POST']));
  return router;
}

/**
 * The day a daily export is of: yesterday (UTC), or `?date=` (YYYY-MM-DD, today, the day so
 * far, or one of the days before that the view keeps); else the problem's errors.
 */
function dayAsked(raw: unknown, now: number): string | Record<string, string[]> {
  const yesterday = dayOf(now - DAY_MS);
  if (raw === undefined) return yesterday;
  const text = typeof raw === 'string' ? raw : '';
  const at = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (Number.isNaN(at) || dayOf(at) !== text)
    return { date: [`The value '${String(raw)}' is not a date (YYYY-MM-DD).`] };
  if (text > dayOf(now)) return { date: ['The date must not be in the future (UTC).'] };
  // (a day's set lives DAILY_RETENTION_MS past its last write, within the day)
  const days = DAILY_RETENTION_MS / DAY_MS - 1;
  if (at < Date.parse(`${dayOf(now)}T00:00:00Z`) - days * DAY_MS)
    return { date: [`The date must be today or one of the ${days} days before (UTC).`] };
  return text;
}

/** A form field as a whole number in [min, max], or null with its message in `errors`. */
function formInt(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  errors: Record<string, string[]>,
): number | null {
  const raw = body[name];
  if (raw === undefined || raw === '') {
    errors[name] = [`The ${name} field is required.`];
    return null;
  }
  const text = typeof raw === 'string' ? raw.trim() : '';
  const n = /^[+-]?\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n)) {
    errors[name] = [`The value '${typeof raw === 'string' ? raw : String(raw)}' is not valid for ${name}.`];
    return null;
  }
  if (n < min || n > max) {
    errors[name] = [`The field ${name} must be between ${min} and ${max}.`];
    return null;
  }
  return n;
}

/** this year and the five before, newest first (the reference's GetYears) */
function yearsTo(now: number): number[] {
  const year = new Date(now).getUTCFullYear();
  return Array.from({ length: 6 }, (_, i) => year - i);
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const CELL = 'style="padding: 10px; border: 1px solid #ddd;"';

/** The page as the reference's Razor view lays it out (its CSV export inline; no third-party script). */
function page(years: number[], m: MonthlyMetrics | null): string {
  const options = (items: [string, string][]) =>
    items.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join('');
  const table = m
    ? `<h2>Metrics for ${esc(MONTHS[m.month - 1]!)} ${m.year}</h2>
    <table style="width: 100%; border-collapse: collapse; margin-top: 20px;">
      <thead style="background-color: #f2f2f2;"><tr>${[
        'Organization',
        'Total orders',
        'Total email notifications',
        'Successful email notifications',
        'Total SMS notifications',
        'Successful SMS notifications',
      ]
        .map((h) => `<th ${CELL}>${h}</th>`)
        .join('')}</tr></thead>
      <tbody>${m.metrics
        .map(
          (r) =>
            `<tr>${[
              r.org,
              r.ordersCreated,
              r.emailNotificationsCreated,
              r.successfulEmailNotifications,
              r.smsNotificationsCreated,
              r.successfulSmsNotifications,
            ]
              .map((v) => `<td ${CELL}>${esc(String(v))}</td>`)
              .join('')}</tr>`,
        )
        .join('')}</tbody>
    </table>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Altinn Notification Metrics</title></head>
<body>
  <h2>Altinn Notification Metrics</h2>
  <style>h3, form { display: inline-block; vertical-align: middle; margin-right: 10px; }</style>
  <h3>Select month and year to see metrics:</h3>
  <form method="post">
    <select id="month" name="month" required><option value="">Month</option>${options(
      MONTHS.map((name, i) => [String(i + 1), name]),
    )}</select>
    <select id="year" name="year" required><option value="">Year</option>${options(
      years.map((y) => [String(y), String(y)]),
    )}</select>
    <button type="submit">Submit</button>
  </form>
  ${table}
  <br /><br />
  <button id="exportCsvButton" onclick="exportTableToCsv()">Export metrics to CSV</button>
  <script>
    function exportTableToCsv() {
      var rows = Array.prototype.map.call(document.querySelectorAll('table tr'), function (tr) {
        return Array.prototype.map.call(tr.querySelectorAll('td, th'), function (c) { return c.innerText; }).join(',');
      });
      var link = document.createElement('a');
      link.setAttribute('href', encodeURI('data:text/csv;charset=utf-8,' + rows.join('\\n')));
      link.setAttribute('download', 'notifications_statistics_${m ? `${m.month}_${m.year}` : ''}.csv');
      document.body.appendChild(link);
      link.click();
    }
  </script>
</body>
</html>
`;
}
