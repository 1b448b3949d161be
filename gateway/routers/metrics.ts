import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { MonthlyMetrics, ViewStore } from '../../platform/view/store.ts';
import { sendProblem, sendValidationProblem } from '../problems.ts';
import { otherMethods } from '../routes.ts';

export interface MetricsDeps {
  view: Pick<ViewStore, 'monthlyMetrics'>;
  clock: () => number;
  /** METRICS_API_KEY: what `X-API-Key` must be; unset, every request is refused */
  apiKey?: string;
}

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
 */
export function metricsRouter(d: MetricsDeps) {
  const router = express.Router();
  const path = '/metrics';
  router.use(path, (req: Request, res: Response, next: NextFunction) => {
    if (req.path !== '/') return next();
    const refused = refusal(req.headers['x-api-key'], d.apiKey);
    if (refused) return void res.status(401).json({ error: refused });
    next();
  });
  router.get(path, (_req: Request, res: Response) => {
    res.type('html').send(page(yearsTo(d.clock()), null));
  });
  router.post(path, express.urlencoded({ extended: false, limit: '4kb' }), async (req: Request, res: Response) => {
    if (!req.is('application/x-www-form-urlencoded'))
      return sendProblem(res, {
        type: 'https://tools.ietf.org/html/rfc9110#section-15.5.16',
        title: 'Unsupported Media Type',
        status: 415,
        detail: 'Send the form as application/x-www-form-urlencoded.',
      });
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

/** The reference's answers, in its order: no header, an empty one, no key configured, a wrong one. */
function refusal(header: string | string[] | undefined, configured: string | undefined): string | null {
  if (header === undefined) return 'API key required for Metrics endpoints';
  const given = Array.isArray(header) ? header[0] : header;
  if (!given || given.trim() === '') return 'API key cannot be empty';
  if (!configured || configured.trim() === '') return 'API key validation not configured';
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(configured, 'utf8');
  // (lengths differ: compared against itself, so the time does not tell the key's length either)
  const same = a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(a, a);
  return same ? null : 'Invalid API key';
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
