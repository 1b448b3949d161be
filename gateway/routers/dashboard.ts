import express, { type Request, type Response } from 'express';
import type { DashboardKind, ViewStore } from '../../platform/view/store.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from '../problems.ts';
import { readDashboardRequest } from '../validation/dashboard.ts';
import { dashboardExt } from '../views.ts';

export interface DashboardDeps {
  view: ViewStore;
  clock: () => number;
}

/** The paths below the API's base, by what each looks up. */
export const DASHBOARD_PATHS: Record<DashboardKind, string> = {
  nin: '/future/dashboard/recipients/notifications/nin',
  org: '/future/dashboard/recipients/notifications/orgnumber',
};

/**
 * The support dashboard (reference `DashboardController`; scope
 * `altinn:notifications.support.admin`, see auth.ts): every creator's notifications to one
 * person or organisation, by national identity number or organisation number in a header, with
 * requested send times in [from, to), latest first. Read from the status view's index of them.
 */
export function dashboardRouter(d: DashboardDeps) {
  const router = express.Router();
  const lookup = (kind: DashboardKind) => async (req: Request, res: Response) => {
    const r = readDashboardRequest(req, kind, d.clock());
    if (!r.ok) return sendValidationProblem(res, r.errors);
    const entries = await d.view.dashboard(kind, r.value, r.from, r.to);
    // the client hung up while its lookup ran (the reference's OperationCanceledException)
    if (req.socket.destroyed) return sendProblem(res, PROBLEMS.requestTerminated);
    res.json(entries.map((e) => dashboardExt(e, { kind, value: r.value })));
  };
  router.get(DASHBOARD_PATHS.nin, lookup('nin'));
  router.get(DASHBOARD_PATHS.org, lookup('org'));
  return router;
}
