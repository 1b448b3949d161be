/**
 * A pacing limiter: callers are spaced `1000 / perSecond` ms apart (no bursts), in the order
 * they asked. One per process per provider; N processes share a provider's limit N ways.
 */
export function createThrottle(perSecond: number, clock: () => number = Date.now): () => Promise<void> {
  const gap = 1000 / perSecond;
  let next = 0;
  return async () => {
    const now = clock();
    const slot = Math.max(now, next);
    next = slot + gap;
    if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
  };
}
