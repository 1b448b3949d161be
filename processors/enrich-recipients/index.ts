import { dependencyObserver } from '../../platform/metrics.ts';
import { RegistryClient } from '../../platform/registry/client.ts';
import type { Stage } from '../runtime/stage.ts';
import type { StageDeps, StageModule } from '../runtime/wiring.ts';
import { enrichRecipientsStage } from './stage.ts';

/** The stage with its registry client (REGISTRY_*). */
export function buildEnrichRecipients({ config, clock, registry: metrics }: StageDeps): Stage<'ordersDue'> {
  if (!config.REGISTRY_URL) throw new Error('REGISTRY_URL is required by enrich-recipients');
  const registry = new RegistryClient({
    baseUrl: config.REGISTRY_URL,
    timeoutMs: config.REGISTRY_TIMEOUT_MS,
    breakerThreshold: config.REGISTRY_BREAKER_THRESHOLD,
    breakerHalfOpenAfterMs: config.REGISTRY_BREAKER_HALF_OPEN_MS,
    observe: dependencyObserver(metrics, 'registry'),
  });
  return enrichRecipientsStage({ registry, clock });
}

/** enrich-recipients: looks recipients up in the registries (REGISTRY_*). */
export const enrichRecipients: StageModule = {
  name: 'enrich-recipients',
  build: (deps) => ({ stage: buildEnrichRecipients(deps), services: [] }),
};
