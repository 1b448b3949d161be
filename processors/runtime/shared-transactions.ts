import type {
  GroupMember,
  GroupOffsets,
  OffsetTarget,
  OutboundRecord,
  TransactionalProducer,
} from '../../platform/kafka/adapter.ts';
import { recordBytes } from '../../platform/kafka/adapter.ts';

/** One partition's commit waiting for the instance's next transaction. */
interface Entry {
  epoch: number;
  /** the consumer's membership when the commit was asked for (its batch was fetched in it) */
  member: GroupMember | null;
  records: OutboundRecord[];
  position: OffsetTarget;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** what a commit of an epoch that has ended answers */
export class StaleTransactionEpoch extends Error {
  constructor() {
    super('an earlier transaction of this instance failed: its partitions are verified again');
  }
}

/** what a commit asked for before the consumer's latest join answers: the group moved on */
export class RejoinedMeanwhile extends Error {
  constructor() {
    super('the consumer rejoined its group since this commit was asked for: its records are handled again');
  }
}

/**
 * `TRANSACTION_SCOPE=instance`: one transactional producer for every input partition a stage
 * instance holds, instead of one per partition. Each partition still commits its batches one
 * after another (the runner's per-partition `tail`); what this adds is that the commits partitions
 * ask for while a transaction is under way go together in the next one (group commit), and the
 * commits asked for in one turn of the event loop (the batches of one fetch) in the same one. A
 * fetch that brings a record or two for each of six partitions then costs one transaction, not
 * six.
 *
 * Fencing is the group's (KIP-447): every transaction sends its offsets with the consumer's
 * membership (generation, member id), and the group coordinator refuses them once the group has
 * moved on from that member, so a zombie's transaction fails and aborts, its outputs with it. Its
 * transactional id is the instance's own (`INSTANCE_ID`): a restarted instance initialising it
 * settles what its predecessor left open; another instance taking over a partition from one that
 * died reads the group's offsets stable (`require_stable`), so it waits until that transaction
 * is settled, by the restart or by the transaction timeout.
 *
 * A transaction that fails ends the producer's epoch: its commits and every commit queued behind
 * it fail (their partitions go back to their first uncommitted record and are verified again),
 * the producer is closed, and the next partition verified makes and initialises a new one.
 */
export class SharedTransactions {
  private producer: TransactionalProducer | null = null;
  private making: Promise<TransactionalProducer> | null = null;
  /** the producer being initialised, if one is */
  private initialising: TransactionalProducer | null = null;
  private epoch = 0;
  private readonly queue: Entry[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  /** the consumer's membership, from its last join; commits refuse until there is one */
  member: GroupMember | null = null;

  constructor(
    private readonly deps: {
      /** makes the instance's transactional producer (not yet initialised) */
      make(): Promise<TransactionalProducer>;
      groupId: string;
      /** bytes of output one transaction takes at most (the first commit always goes) */
      maxBytes: number;
    },
  ) {}

  /**
   * The producer through which a partition commits, initialised: this epoch's, made when there
   * is none. A partition that commits through it after the epoch ended is refused.
   */
  async ready(): Promise<TransactionalProducer> {
    if (this.closed) throw new Error('the stage is closing');
    if (this.producer) return this.facade(this.epoch);
    this.making ??= this.makeProducer();
    await this.making;
    return this.facade(this.epoch);
  }

  private async makeProducer(): Promise<TransactionalProducer> {
    try {
      const producer = await this.deps.make();
      this.initialising = producer;
      try {
        // InitProducerId: settles whatever transaction this id's previous holder left open
        // (Kafka may keep it waiting while a coordinator moves: close() closes it meanwhile)
        await producer.init();
      } catch (err) {
        await producer.close().catch(() => undefined);
        throw err;
      } finally {
        this.initialising = null;
      }
      if (this.closed) {
        await producer.close().catch(() => undefined);
        throw new Error('the stage is closing');
      }
      this.producer = producer;
      return producer;
    } finally {
      this.making = null;
    }
  }

  /** whether `producer` (from `ready`) still commits: its epoch has not ended */
  current(producer: TransactionalProducer): boolean {
    return this.epochOf.get(producer) === this.epoch && this.producer !== null;
  }

  private readonly epochOf = new WeakMap<TransactionalProducer, number>();

  /** what the runner's per-partition machinery holds as its producer: commits join the queue */
  private facade(epoch: number): TransactionalProducer {
    const transactionalId = this.producer?.transactionalId ?? '';
    const facade: TransactionalProducer = {
      transactionalId,
      init: async () => undefined,
      commit: (records, offsets) => {
        if (!offsets || 'positions' in offsets)
          return Promise.reject(new Error('a shared transaction commits one partition position at a time'));
        return this.enqueue(epoch, records, offsets);
      },
      // a partition's failure path closes its producer: the epoch has ended already (see pump)
      close: async () => undefined,
    };
    this.epochOf.set(facade, epoch);
    return facade;
  }

  private enqueue(epoch: number, records: OutboundRecord[], position: OffsetTarget): Promise<void> {
    if (epoch !== this.epoch || this.closed) return Promise.reject(new StaleTransactionEpoch());
    let bytes = 0;
    for (const r of records) bytes += recordBytes(r);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ epoch, member: this.member, records, position, bytes, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    // one turn of the event loop first: the other batches of the same fetch join this transaction
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.pump())
      .finally(() => {
        this.running = null;
        this.schedule();
      });
  }

  private async pump(): Promise<void> {
    const take: Entry[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && (take.length === 0 || bytes + this.queue[0]!.bytes <= this.deps.maxBytes)) {
      const e = this.queue.shift()!;
      if (e.epoch !== this.epoch) {
        e.reject(new StaleTransactionEpoch());
        continue;
      }
      // Asked for in an earlier membership (the runner checked its batch was current then): the
      // group has moved on, and sent with today's membership the coordinator would take it,
      // for a partition that may be another member's now. Never committed; handled again.
      if (e.member !== this.member) {
        e.reject(new RejoinedMeanwhile());
        continue;
      }
      take.push(e);
      bytes += e.bytes;
    }
    if (take.length === 0) return;
    const producer = this.producer;
    const member = this.member;
    if (!producer || !member) {
      const err = producer
        ? new Error('no group membership to fence the transaction with')
        : new StaleTransactionEpoch();
      for (const e of take) e.reject(err);
      return;
    }
    const records: OutboundRecord[] = [];
    for (const e of take) for (const r of e.records) records.push(r);
    const offsets: GroupOffsets = {
      groupId: this.deps.groupId,
      member,
      positions: take.map((e) => ({
        topic: e.position.topic,
        partition: e.position.partition,
        offset: e.position.offset,
      })),
    };
    try {
      await producer.commit(records, offsets);
    } catch (err) {
      // The transaction may or may not have committed: this producer is done for. Its commits and
      // every one queued behind it fail; their partitions are verified again (committed offsets
      // read, stable) before they are handled again.
      this.endEpoch();
      for (const e of take) e.reject(err);
      return;
    }
    for (const e of take) e.resolve();
  }

  private endEpoch(): void {
    this.epoch++;
    const producer = this.producer;
    this.producer = null;
    for (const e of this.queue.splice(0)) e.reject(new StaleTransactionEpoch());
    void producer?.close().catch(() => undefined);
  }

  /**
   * The transaction under way (if any) settles; then the producer closes. One still being made
   * or initialised is not waited for: it is closed (its InitProducerId given up), or closed as
   * soon as it is made.
   */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running.catch(() => undefined);
    for (const e of this.queue.splice(0)) e.reject(new StaleTransactionEpoch());
    const producers = [this.producer, this.initialising];
    this.producer = null;
    await Promise.all(producers.map((p) => p?.close().catch(() => undefined)));
  }

  /** commits under way or queued, settled (whatever their outcome) */
  async settled(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }
}
