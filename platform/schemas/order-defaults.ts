import type { NotificationOrder } from './generated/order.ts';
import { loadSchema } from './codec.ts';

const orderSchema = loadSchema('order') as { fields: { name: string; default?: unknown }[] };

/**
 * Each order field the schema gives a default, with that default: what an order written before
 * the field existed reads as (Avro's own rule for a reader schema). The schema is the one place
 * a field added to the order is known; readers of orders kept in other forms (JSON in an old
 * enriched record, the status view's pinned format) fill in from here.
 */
export const ORDER_DEFAULTS: Readonly<Partial<NotificationOrder>> = Object.freeze(
  Object.fromEntries(orderSchema.fields.filter((f) => 'default' in f).map((f) => [f.name, f.default])),
);

/** `order` with each field it lacks that has a default set to that default. */
export const withOrderDefaults = <T extends object>(order: T): Partial<NotificationOrder> & T => ({
  ...ORDER_DEFAULTS,
  ...order,
});
