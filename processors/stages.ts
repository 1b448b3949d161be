import { enrichRecipients } from './enrich-recipients/index.ts';
import { evaluateCondition } from './evaluate-condition/index.ts';
import { orderView } from './order-view/index.ts';
import { passthrough } from './passthrough/index.ts';
import { prepareNotifications } from './prepare-notifications/index.ts';
import { resolveChannel } from './resolve-channel/index.ts';
import type { StageModule } from './runtime/wiring.ts';
import { scheduleWindow } from './schedule-window/index.ts';
import { scheduler } from './scheduler/index.ts';
import { sendEmail } from './send-email/index.ts';
import { sendSms } from './send-sms/index.ts';
import { statusView } from './status-view/index.ts';

/** Every stage this build can run: each wired in its own folder (`index.ts`). */
export const STAGE_MODULES: readonly StageModule[] = [
  scheduler,
  enrichRecipients,
  evaluateCondition,
  resolveChannel,
  prepareNotifications,
  scheduleWindow,
  sendEmail,
  sendSms,
  orderView,
  statusView,
  passthrough,
];

/**
 * The stages a deployment runs (`./dev up`, the chart and Compose): the chain with
 * prepare-notifications in the place of enrich-recipients, evaluate-condition and resolve-channel
 * (it runs the two last as its lanes), the senders and the views.
 */
export const DEFAULT_STAGES: readonly string[] = [
  'scheduler',
  'prepare-notifications',
  'schedule-window',
  'send-email',
  'send-sms',
  'order-view',
  'status-view',
];

/** The stages by name. */
export const STAGES: Record<string, StageModule> = Object.fromEntries(STAGE_MODULES.map((m) => [m.name, m]));
