import express from 'express';
import type { Registry } from 'prom-client';
import swaggerUi from 'swagger-ui-dist';
import { openApiDocument } from '../openapi.ts';

export interface OpenDeps {
  health: () => { ok: boolean; [k: string]: unknown };
  metrics: Registry;
}

/** What needs no token: readiness, liveness, Prometheus metrics, the OpenAPI document and the API page. */
export function openRouter(d: OpenDeps) {
  const router = express.Router();
  // readiness: whether to send this gateway requests (503 while draining or Redis is not ready)
  router.get('/health', (_req, res) => {
    const h = d.health();
    res.status(h.ok ? 200 : 503).json(h);
  });
  // liveness: whether the process answers at all. Not Redis: restarting gateways does not mend
  // a Redis outage, and a liveness probe that failed with it restarted every gateway over and
  // over, until Kubernetes' back-off held them down minutes after Redis was back.
  router.get('/health/live', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(d.metrics.contentType).send(await d.metrics.metrics());
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(`<!doctype html><html><head><meta charset="utf-8"><title>Notifications API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script></body></html>`);
  });
  router.use('/docs/assets', express.static(swaggerUi.getAbsoluteFSPath(), { index: false }));
  return router;
}
