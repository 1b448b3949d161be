import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '../gateway/local-tokens.ts';
import { loadConfig } from '../platform/config.ts';
import {
  KafkaAdapter,
  kafkaConnection,
  recordBytes,
  type InboundRecord,
  type OutboundRecord,
  type PlainProducer,
  type TransactionalProducer,
} from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { provision } from '../platform/provision.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';
import { createRedis, redisConnection } from '../platform/redis/client.ts';

const root = join(import.meta.dirname, '..');

/**
 * A benchmark's own topics under a fresh prefix (`bench-<label>-<time>.`), provisioned, with the
 * config, quiet logger, Kafka adapter and codec for them.
 */
/** the bench's one logger: its clients' warnings (Kafka, Redis), as JSON */
export const benchLogger = createLogger({ level: 'warn', name: 'bench' });

export async function benchClients(label: string) {
  // Short: the prefix begins every Redis key, and the Redis bytes per order are measured under it
  // (production's default prefix is empty); the time in base 36 keeps runs apart.
  const prefix = `b${label.replace(/[^a-z0-9]/g, '').slice(-3)}${(Date.now() % 36 ** 5).toString(36)}.`;
  const config = loadConfig({ ...process.env, TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' });
  const logger = benchLogger;
  const kafka = new KafkaAdapter({ ...kafkaConnection(config), clientId: 'bench', logger });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, prefix);
  await provision(kafka, codec, config);
  return { prefix, config, logger, kafka, codec };
}

/**
 * The SMTP sink in a process of its own (`bench/smtp-sink-process.ts`), mirrored here: when each
 * recipient's first message was accepted and how many it got, brought up to date by `refresh`
 * (the accepted messages since the last one, from the sink's control port). `pid` is the sink's,
 * for its CPU.
 */
export async function remoteSmtpSink() {
  const proc = await startProcess('bench/smtp-sink-process.ts', {}, /"smtp sink listening","port":(\d+),"control":\d+/);
  const control = Number(/"control":(\d+)/.exec(proc.output())![1]);
  const arrivals = new Map<string, number>();
  const perRecipient = new Map<string, number>();
  let seen = 0;
  const refresh = async () => {
    const res = await fetch(`http://127.0.0.1:${control}/arrivals?from=${seen}`);
    const batch = (await res.json()) as [string[], number][];
    seen += batch.length;
    for (const [recipients, at] of batch)
      for (const r of recipients) {
        if (!arrivals.has(r)) arrivals.set(r, at);
        perRecipient.set(r, (perRecipient.get(r) ?? 0) + 1);
      }
  };
  return {
    port: proc.port,
    pid: proc.child.pid!,
    arrivals,
    perRecipient,
    refresh,
    /** resolves once every one of `keys` has arrived, looking every 250 ms; rejects after `ms` */
    async untilAll(keys: readonly string[], ms: number, what: string) {
      const deadline = Date.now() + ms;
      let next = 0;
      for (;;) {
        await refresh();
        while (next < keys.length && arrivals.has(keys[next]!)) next++;
        if (next === keys.length) return;
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    close: async () => {
      proc.child.kill('SIGTERM');
      await new Promise((r) => proc.child.once('exit', r));
    },
  };
}

/**
 * Starts one of the project's entry points (`script`, relative to the root) as its own process
 * and resolves once its output matches `ready`, with the port the first group captured.
 */
export function startProcess(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<{
  child: ChildProcess;
  port: number;
  output: () => string;
  until: (line: RegExp, ms: number) => Promise<RegExpExecArray>;
}> {
  // BENCH_CPU_PROF_DIR: each process writes a V8 CPU profile there when it exits (look with Chrome's devtools)
  const profile = process.env.BENCH_CPU_PROF_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]
    : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', join(root, script)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // BENCH_LOG_DIR: each process's whole output goes to a file there too (`<script>-<pid>.log`)
  if (process.env.BENCH_LOG_DIR)
    child.stdout!.pipe(
      createWriteStream(join(process.env.BENCH_LOG_DIR, `${script.replace(/\W/g, '_')}-${child.pid}.log`)),
    );
  let out = '';
  /** a later line of the process's output, matched as it arrives (or a rejection after `ms`) */
  const until = (line: RegExp, ms: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: no ${line} within ${ms} ms`)), ms);
      const look = () => {
        const m = line.exec(out);
        if (!m) return;
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(m);
      };
      child.stdout!.on('data', look);
      look();
    });
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      // keep the tail only: a long run's logs are not needed, its last words are
      out = (out + b.toString()).slice(-20_000);
      const m = ready.exec(out);
      if (m) resolve({ child, port: Number(m[1] ?? 0), output: () => out, until });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${script} exited (${code}):\n${out.slice(-2000)}`)));
  });
}

/** Stops the processes with `signal` and waits until each has exited (at most `ms`). */
export async function stopProcesses(children: ChildProcess[], signal: NodeJS.Signals = 'SIGTERM', ms = 30_000) {
  const exited = children.map((c) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)),
  );
  for (const c of children) c.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(exited), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** What a bench's stage processes print once every stage runs (the group: their ops port). */
export const STAGES_RUNNING = /"opsPort":(\d+),"msg":"stages running"/;

/**
 * A bench's stage-process environment under `prefix`: the senders toward the bench's SMTP server
 * (unpaced) and the SMSC simulator as `systemId` at `tps` submits per second.
 */
export function senderEnv(prefix: string, smtpPort: number, systemId: string, tps: number): Record<string, string> {
  return {
    TOPIC_PREFIX: prefix,
    STAGE_HTTP_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURE: 'false',
    EMAIL_RATE_PER_SECOND: '1000000',
    SMPP_SYSTEM_ID: systemId,
    SMPP_PASSWORD: 'secret',
    SMPP_TPS: String(tps),
    LOG_LEVEL: 'info',
  };
}

/** A fresh key pair for a benchmark's gateway: the public half's file, and a token for `org`. */
export async function benchToken(org: string): Promise<{ publicKeyFile: string; token: string }> {
  // The gateways read the key at start; the folder goes when the bench exits, and, being in the
  // private stack's folder (which `./dev bench` empties when it starts), after a bench that was
  // killed too (in the system's temporary folder, 12 were left over a month of runs).
  const dir = mkdtempSync(join(process.env.STACK_DIR ?? tmpdir(), 'bench-auth-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyFile = join(dir, 'public.pem');
  writeFileSync(publicKeyFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  const token = await mintToken(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
    org,
    scope: 'altinn:serviceowner/notifications.create',
  });
  return { publicKeyFile, token };
}

/** Resolves `finished` when `count` committed records have arrived on `topic` (a fresh group reads it). */
export async function arrivals(kafka: KafkaAdapter, topic: string, group: string, count: number) {
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const handle = await kafka.collect({
    groupId: group,
    topics: [topic],
    onRecord: () => {
      if (++seen === count) done();
    },
  });
  return { finished, stop: () => handle.stop(), seen: () => seen };
}

/**
 * The raw baseline every benchmark compares with: a plain consumer group copying `from`'s
 * records, bytes unchanged, to `to` with an idempotent acks=all producer (no Avro, no
 * transactions).
 */
export interface RawHop {
  groupId: string;
  from: string;
  to: string;
  /** besides the copy, this many records of `bytes` bytes per record to `topic` (status events, say) */
  side?: { topic: string; count: number; bytes: number };
  /**
   * Exactly-once, as kafkajs itself does it: each input partition has a transactional producer of
   * its own (id `<groupId>-<partition>`, the textbook fence), and its copies commit with the
   * partition's next offset in one transaction, cut where the stage runtime cuts its own (its
   * TRANSACTION_MAX_RECORDS inputs, TRANSACTION_MAX_BYTES of output). Without it: one shared
   * idempotent producer, offsets never committed.
   */
  exactlyOnce?: boolean;
}

export async function rawCopier(
  kafka: KafkaAdapter,
  o: RawHop & {
    producer: PlainProducer;
    partitionsConcurrently: number;
    /** with `exactlyOnce`: the runtime's TRANSACTION_MAX_RECORDS and TRANSACTION_MAX_BYTES */
    transaction?: { maxRecords: number; maxBytes: number };
  },
) {
  const limits = o.transaction;
  if (o.exactlyOnce && !limits) throw new Error("an exactly-once copier needs the runtime's transaction limits");
  const copies = (r: InboundRecord): OutboundRecord[] => {
    const out: OutboundRecord[] = [{ topic: o.to, key: r.key, value: r.value }];
    for (let i = 0; i < (o.side?.count ?? 0); i++)
      out.push({ topic: o.side!.topic, key: r.key, value: r.value?.subarray(0, o.side!.bytes) ?? null });
    return out;
  };
  const producers = new Map<number, Promise<TransactionalProducer>>();
  const producerOf = (partition: number) => {
    let p = producers.get(partition);
    if (!p) {
      p = kafka.transactionalProducer(`${o.groupId}-${partition}`).then(async (t) => {
        await t.init();
        return t;
      });
      producers.set(partition, p);
    }
    return p;
  };
  const consumer = await kafka.batchConsumer({
    groupId: o.groupId,
    topics: [o.from],
    partitionsConcurrently: o.partitionsConcurrently,
    fromBeginning: true,
    eachBatch: async (batch) => {
      if (o.exactlyOnce) {
        const tx = await producerOf(batch.partition);
        let pending: OutboundRecord[] = [];
        let bytes = 0;
        let inputs = 0;
        for (const [i, r] of batch.records.entries()) {
          for (const c of copies(r)) {
            pending.push(c);
            bytes += recordBytes(c);
          }
          inputs++;
          if (bytes < limits!.maxBytes && inputs < limits!.maxRecords && i < batch.records.length - 1) continue;
          const next = (BigInt(r.offset) + 1n).toString();
          try {
            await tx.commit(pending, {
              groupId: o.groupId,
              topic: batch.topic,
              partition: batch.partition,
              offset: next,
            });
          } catch (err) {
            // the next batch makes the partition a fresh producer, fencing this one; kafkajs
            // fetches the batch again from the committed offset
            producers.delete(batch.partition);
            await tx.close().catch(() => undefined);
            throw err;
          }
          batch.resolveOffset(r.offset);
          pending = [];
          bytes = 0;
          inputs = 0;
        }
        await batch.heartbeat();
        return;
      }
      const out = batch.records.flatMap(copies);
      // (a record batch over the broker's message.max.bytes is refused: a fetch's worth of
      // copies plus side records can be, so they go in parts of a few hundred records)
      for (let i = 0; i < out.length; i += 1_000) await o.producer.send(out.slice(i, i + 1_000));
      const last = batch.records.at(-1);
      if (last) batch.resolveOffset(last.offset);
      await batch.heartbeat();
    },
  });
  return {
    joined: consumer.joined,
    stop: async () => {
      await consumer.stop();
      await Promise.all([...producers.values()].map(async (p) => (await p).close()));
    },
  };
}

/** The gateway as its own process on a free port, verifying tokens with `publicKeyFile`, no rate limit. */
export function startGateway(env: Record<string, string>, publicKeyFile: string) {
  return startProcess(
    'gateway/main.ts',
    {
      ...env,
      GATEWAY_PORT: '0',
      AUTH_PUBLIC_KEY_FILE: publicKeyFile,
      RATE_LIMIT_PER_SECOND: '1000000',
      LOG_LEVEL: 'info',
    },
    /"port":(\d+),"msg":"gateway listening"/,
  );
}

/**
 * Waits until the status view has taken in every status event there is: the status topic's end
 * and status-view's committed offsets unchanged for `quietMs`, each partition's offset at its end
 * (or one short, the last transaction's marker). Redis is weighed after that, not while
 * status-view is still applying what the hand-offs produced.
 */
export async function statusViewSettled(prefix: string, quietMs = 3_000, timeoutMs = 120_000): Promise<void> {
  const config = loadConfig({ ...process.env, TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' });
  const kafka = new KafkaAdapter({
    ...kafkaConnection(config),
    clientId: 'bench',
    logger: benchLogger,
  });
  const topic = `${prefix}altinn.notifications.status`;
  const group = `${prefix}notifications.status-view`;
  try {
    let last = '';
    let since = Date.now();
    for (const started = Date.now(); Date.now() - started < timeoutMs;) {
      const [ends, committed] = await Promise.all([kafka.topicEndOffsets(topic), kafka.groupOffsets(group, topic)]);
      const caughtUp = [...ends].every(([p, end]) => BigInt(end) - (committed.get(p) ?? 0n) <= 1n);
      const now = JSON.stringify([[...ends], [...committed].map(([p, o]) => [p, String(o)])]);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (caughtUp && Date.now() - since >= quietMs) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`(the status view had not settled after ${timeoutMs / 1000} s; Redis weighed as it was)`);
  } finally {
    await kafka.close();
  }
}

/**
 * Redis' own count of the commands it has run, by command (`INFO commandstats`; a script's
 * commands are counted under their names too, besides `evalsha`). Two of them apart, divided by
 * the orders between, say what each order asks of Redis.
 */
export async function redisCommandCounts(): Promise<Map<string, number>> {
  const redis = createRedis(redisConnection(loadConfig(process.env)), benchLogger);
  try {
    const info = await redis.info('commandstats');
    const counts = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1]!, Number(m[2]));
    return counts;
  } finally {
    redis.disconnect();
  }
}

/**
 * The Kafka requests these processes had answered so far (`kafka_client_requests_total` on each
 * one's /metrics, at `http://127.0.0.1:<port>/metrics`), summed by API.
 */
export async function kafkaRequestCounts(ports: number[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const m of text.matchAll(/^kafka_client_requests_total\{[^}]*api="([^"]+)"[^}]*\} (\d+)/gm))
      counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return counts;
}

/** `after` less `before`, per order, the largest first, as one line (`what: N (api n, …)`) */
export function perOrderLine(
  what: string,
  before: Map<string, number>,
  after: Map<string, number>,
  orders: number,
): string {
  const per = [...after]
    .map(([name, n]) => [name, (n - (before.get(name) ?? 0)) / orders] as const)
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  const total = per.reduce((a, [, n]) => a + n, 0);
  return `${what}: ${total.toFixed(1)} (${per.map(([name, n]) => `${name} ${n.toFixed(2)}`).join(', ')})`;
}

/**
 * What the environment under `prefix` holds in Redis: bytes (MEMORY USAGE, every key) in all and
 * by kind of key (ids and hash tags folded), for the bytes-per-order figure; and the same weighed
 * by how long each key stays against the order view's retention (`viewRetentionMs`), which is
 * what an order costs while it is retained, once the keys kept for shorter (send ledgers, delivery
 * references, schedule markers) come and go at the same rate as orders. A key's stay is its TTL
 * (PTTL, as Redis has it); the schedules' final markers, trimmed by the releaser rather than
 * expired, stay `finalRetentionMs`; any other key without a TTL counts in full.
 */
export async function redisFootprint(
  prefix: string,
  /** the final markers' retention by the kind of key (a schedule's, as its stage keeps them) */
  retention: { viewRetentionMs: number; finalRetentionMs: (kind: string) => number },
): Promise<{
  total: number;
  retained: number;
  keys: number;
  byKind: Map<string, { bytes: number; retained: number }>;
}> {
  const redis = createRedis(redisConnection(loadConfig(process.env)), benchLogger);
  try {
    const byKind = new Map<string, { bytes: number; retained: number }>();
    let total = 0;
    let retained = 0;
    let keys = 0;
    const weighed: { key: string; bytes: number; ttl: number }[] = [];
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      const pipe = redis.pipeline();
      for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', '0').pttl(k);
      const replies = (await pipe.exec()) ?? [];
      batch.forEach((k, i) => {
        const bytes = Number(replies[2 * i]?.[1] ?? 0);
        const ttl = Number(replies[2 * i + 1]?.[1] ?? -1);
        weighed.push({ key: k, bytes, ttl });
      });
    }
    // A schedule's keys (…:due, …:items, …:dueAt, …:leased) hold what waits, each item until its
    // due time: weighed by the mean time left to its due items (none due later: gone soon).
    const scheduleStay = new Map<string, number>();
    const now = Date.now();
    for (const { key } of weighed) {
      if (!key.endsWith(':due')) continue;
      const scores = (await redis.zrange(key, 0, -1, 'WITHSCORES')).filter((_, j) => j % 2 === 1).map(Number);
      const left = scores.reduce((a, due) => a + Math.max(0, due - now), 0) / Math.max(1, scores.length);
      scheduleStay.set(key.slice(0, -':due'.length), left);
    }
    for (const { key, bytes, ttl } of weighed) {
      const kind = key
        .slice(prefix.length)
        .replace(/\{[^}]*\}/g, '{…}')
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '…')
        .replace(/(ledger:|ref:|idem:[^:]*:|ratelimit:?).*$/, '$1…');
      const schedule = /^(.*):(due|items|dueAt|leased)$/.exec(key)?.[1];
      const stays =
        ttl > 0
          ? ttl
          : /:(final|outcome)$/.test(kind)
            ? retention.finalRetentionMs(kind)
            : schedule !== undefined && scheduleStay.has(schedule)
              ? scheduleStay.get(schedule)!
              : Infinity;
      const kept = bytes * Math.min(1, stays / retention.viewRetentionMs);
      const sum = byKind.get(kind) ?? { bytes: 0, retained: 0 };
      byKind.set(kind, { bytes: sum.bytes + bytes, retained: sum.retained + kept });
      total += bytes;
      retained += kept;
      keys++;
    }
    return { total, retained, keys, byKind };
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes what a bench run left under its prefix: its topics, its Redis keys and its subjects in
 * the schema registry (deleted, then deleted for good). Every run, and
 * every later suite of `./dev bench --suite all`, then starts on the broker and Redis as the
 * first did: the layout bench's medians drifted with the partitions of earlier runs left behind
 * (over 1,200 after 15 runs; one run's rounds spread 0.58–1.04 and fell round by round, against
 * 0.65–0.72 on a clean broker). Call it after the run's processes have stopped. Only a bench
 * prefix is accepted (`benchClients`' form), so a mistake cannot empty a shared broker or Redis.
 * A failure is said, not thrown: it must not hide how the run itself ended.
 */
export async function dropRun(prefix: string): Promise<void> {
  if (!/^b[a-z0-9]+\.$/.test(prefix)) throw new Error(`not a bench run's prefix: ${JSON.stringify(prefix)}`);
  const config = loadConfig({ ...process.env, TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' });
  const kafka = new KafkaAdapter({
    ...kafkaConnection(config),
    clientId: 'bench',
    logger: benchLogger,
  });
  const redis = createRedis(redisConnection(loadConfig(process.env)), benchLogger);
  try {
    await kafka.deleteTopicsWithPrefix(prefix);
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>)
      if (keys.length > 0) await redis.unlink(...keys);
    const registry = config.SCHEMA_REGISTRY_URL.replace(/\/$/, '');
    const subjects = (await (await fetch(`${registry}/subjects`)).json()) as string[];
    for (const subject of subjects.filter((s) => s.startsWith(prefix)))
      for (const permanent of ['', '?permanent=true']) {
        const res = await fetch(`${registry}/subjects/${encodeURIComponent(subject)}${permanent}`, {
          method: 'DELETE',
        });
        if (!res.ok) throw new Error(`the registry answered ${res.status} to deleting ${subject}`);
      }
  } catch (err) {
    console.log(`(the run's topics, Redis keys or schema subjects stay: ${(err as Error).message})`);
  } finally {
    redis.disconnect();
    await kafka.close();
  }
}

const CLOCK_TICKS = 100; // USER_HZ: clock ticks per second in /proc on Linux

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 once it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime (fields 14 and 15 of stat(5); 12 and 13 after the state field)
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLOCK_TICKS;
}

/**
 * Bytes a process has written and read through system calls, sockets included (`wchar` and
 * `rchar` of /proc/<pid>/io): what a stage process sends to and takes from Kafka and Redis; and
 * how many such calls it made (`syscw`, `syscr`): each socket write is one.
 */
export async function ioBytes(
  pid: number | 'self',
): Promise<{ written: number; read: number; writeCalls: number; readCalls: number }> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
  return { written: field('wchar'), read: field('rchar'), writeCalls: field('syscw'), readCalls: field('syscr') };
}

/**
 * CPU seconds of every process in each of the local stack's process groups (each service runs
 * in its own session: the group id is the pid recorded in $STACK_DIR/pids), by service name.
 */
export async function stackCpuSeconds(): Promise<Map<string, number>> {
  const dir = process.env.STACK_DIR;
  const out = new Map<string, number>();
  if (!dir) return out;
  const groups = new Map<number, string>();
  for (const f of await readdir(join(dir, 'pids')).catch(() => [] as string[])) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number((await readFile(join(dir, 'pids', f), 'utf8')).trim());
    if (pid > 0) groups.set(pid, f.slice(0, -4));
  }
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const name = groups.get(Number(fields[2])); // the process group id
    if (!name) continue;
    const cpu = (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLOCK_TICKS;
    out.set(name, (out.get(name) ?? 0) + cpu);
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The median of `xs` (nearest rank: with an even count, the upper of the middle two). */
export const median = (xs: number[]) => quantile(xs, 0.5);

/** The `q` quantile (0..1) of `xs` (nearest rank; NaN when empty). */
export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
