/** Thrown by `Slots.acquire` when every slot is taken and the queue is full. */
export class SlotsFull extends Error {
  constructor(
    readonly capacity: number,
    readonly queue: number,
  ) {
    super(`all ${capacity} slots are taken and ${queue} requests wait`);
  }
}

type Waiter = (release: () => void) => void;

/**
 * At most `capacity` holders at once, and at most `queue` more waiting, served in the order
 * they came. A waiter whose signal aborts leaves the queue at once, so clients that went away
 * take no place from those that wait. (cockatiel's bulkhead and p-limit keep an aborted waiter
 * queued until its turn; cockatiel 3.2.1 then held the slot it was handed: its issue #114.)
 */
export class Slots {
  private held = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly capacity: number,
    readonly queue: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}: at least 1`);
    if (!Number.isInteger(queue) || queue < 0) throw new RangeError(`queue ${queue}: at least 0`);
  }

  /** slots held now */
  get running(): number {
    return this.held;
  }

  /** requests waiting for a slot now */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * A slot, as the function that gives it back (calling it again does nothing); rejects with
   * `SlotsFull` when the queue is full, and with the signal's reason when it aborts first.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.held < this.capacity) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.queue) return Promise.reject(new SlotsFull(this.capacity, this.queue));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = (release) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(release);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // the slot passes straight to the first waiter (held stays), or is given back
      const next = this.waiting.shift();
      if (next) next(this.releaser());
      else this.held--;
    };
  }
}
