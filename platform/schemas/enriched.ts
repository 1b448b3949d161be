import avro from 'avsc';
import { permanent } from '../errors.ts';
import type { EnrichedOrder } from './generated/enriched-order.ts';
import type { NotificationOrder } from './generated/order.ts';
import { loadSchema } from './codec.ts';
import { withOrderDefaults } from './order-defaults.ts';

const orderType = avro.Type.forSchema(loadSchema('order'));

/**
 * The order an enriched record carries. Records written since the order is nested carry it in
 * `order`; older ones (still on the topic after an upgrade) carry it as JSON in `orderJson`,
 * which is checked against the order schema here, so no stage reads an unchecked cast.
 */
export function orderOf(e: EnrichedOrder): NotificationOrder {
  if (e.order) return e.order;
  if (e.orderJson === null)
    throw permanent('INVALID_RECORD', 'enriched order carries no order (order and orderJson are null)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(e.orderJson);
  } catch (err) {
    throw permanent('INVALID_RECORD', `enriched order's orderJson is not JSON: ${(err as Error).message}`);
  }
  // (fields added to the order since, with their defaults: such JSON was written without them)
  if (isPlainObject(parsed)) parsed = withOrderDefaults(parsed);
  const problems: string[] = [];
  if (!orderType.isValid(parsed, { errorHook: (path) => problems.push(path.join('.') || '(root)') })) {
    throw permanent('INVALID_RECORD', `enriched order's orderJson is not a NotificationOrder (${problems.join(', ')})`);
  }
  return parsed as NotificationOrder;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
