import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { Redis } from '../../platform/redis/client.ts';
import { freePort, killedWithParent } from './process.ts';
import { eventually } from './stack.ts';

/**
 * A Redis server of a test's own (the `redis-server` the stack installed), on a Unix socket in a
 * folder of its own (and on `port`, when given), for what a test must not do to the shared
 * stack's Redis: kill it, freeze it, demote it. `args` are more of redis-server's options
 * (`--replicaof`, say). With `sentinel`, a Sentinel instead, on `port` alone (no socket; `appendOnly`
 * and `args` are a server's), whose configuration is those lines. `start` (again after a kill) keeps the folder, so an append-only file survives;
 * `remove` kills it and deletes the folder.
 */
export function ownRedisServer(
  options: { appendOnly?: boolean; port?: number; args?: string[]; sentinel?: string[] } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'own-redis-'));
  const socket = join(dir, 'redis.sock');
  let server: ChildProcess | null = null;
  /** everything it wrote, across its starts (the last 1 MB) */
  let log = '';

  const start = async (): Promise<void> => {
    let args: string[];
    if (options.sentinel) {
      // (Sentinel writes what it learns into its configuration file)
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(conf, [`port ${options.port}`, `dir ${dir}`, ...options.sentinel].join('\n') + '\n');
      args = [conf, '--sentinel'];
    } else {
      const durability = options.appendOnly
        ? ['--appendonly', 'yes', '--appendfsync', 'always']
        : ['--appendonly', 'no'];
      args = ['--port', String(options.port ?? 0), '--bind', '127.0.0.1', '--unixsocket', socket, '--dir', dir];
      args.push(...durability, '--save', '', ...(options.args ?? []));
    }
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killedWithParent(child);
    server = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server not ready in 15 s: ${out}`)), 15_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        log = (log + c.toString()).slice(-1_000_000);
        // "Ready to accept connections" (tcp) or "ready to accept connections at <socket>"; a
        // Sentinel once it watches its primary
        if (options.sentinel ? /\+monitor master/.test(out) : /ready to accept connections/i.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
  };

  /** SIGKILL, resolved once the process is gone */
  const kill = async (): Promise<void> => {
    const child = server;
    server = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const dead = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await dead;
  };

  /** SIGSTOP (frozen: its connections stay open and answer nothing) or SIGCONT */
  const signal = (sig: 'SIGSTOP' | 'SIGCONT'): void => void server?.kill(sig);

  const remove = async (): Promise<void> => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };

  return { socket, start, kill, signal, remove, output: () => log };
}

/**
 * A primary, its replica and one sentinel watching them (failing over after 1 s), on free ports,
 * removed after the suite with the clients a test adds to `clients`. With `tls`, each takes TLS
 * only, with that certificate: the servers with the password `app-secret` (the replica syncs and
 * the sentinel watches over TLS with it), the sentinel with `sentinel-secret`.
 */
export async function failoverSet(
  tls?: { certFile: string; keyFile: string; caFile: string },
  /**
   * each server with an append-only file (fsync always), as production runs them: a primary
   * started again after a kill comes back with what it had, not empty (an empty one the
   * sentinels promote back, should the new primary miss their pings for a moment, would wipe
   * its replica on the resync)
   */
  options: { appendOnly?: boolean } = {},
) {
  const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const server = (port: number, ...args: string[]) =>
    ownRedisServer({
      ...(tls
        ? {
            args: [
              ...['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file'],
              ...[tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no', '--tls-replication'],
              ...['yes', '--requirepass', 'app-secret', '--masterauth', 'app-secret', ...args],
            ],
          }
        : { port, args }),
      ...(options.appendOnly ? { appendOnly: true } : {}),
    });
  // (its replica synced at once, not after the 5 s Redis waits for others to sync with)
  const primary = server(primaryPort, '--repl-diskless-sync-delay', '0');
  const replica = server(replicaPort, '--replicaof', '127.0.0.1', String(primaryPort));
  const watching = [
    `sentinel monitor pipeline 127.0.0.1 ${primaryPort} 1`,
    'sentinel down-after-milliseconds pipeline 1000',
    'sentinel failover-timeout pipeline 10000',
  ];
  const sentinel = tls
    ? ownRedisServer({
        port: 0,
        sentinel: [
          ...[`tls-port ${sentinelPort}`, `tls-cert-file ${tls.certFile}`, `tls-key-file ${tls.keyFile}`],
          ...[`tls-ca-cert-file ${tls.caFile}`, 'tls-auth-clients no', 'tls-replication yes'],
          'requirepass sentinel-secret',
          ...watching,
          'sentinel auth-pass pipeline app-secret',
        ],
      })
    : ownRedisServer({ port: sentinelPort, sentinel: watching });
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const s of [sentinel, replica, primary]) await s.remove();
  });
  const portSetting: 'port' | 'tls-port' = tls ? 'tls-port' : 'port';
  /**
   * Starts the three, the replica in step and known to the sentinel (which promotes only a
   * replica it knows) before it returns; `direct` makes a client of one server or the sentinel,
   * by its port. Returns the replica's and the sentinel's.
   */
  const start = async (direct: (port: number) => Redis) => {
    await primary.start();
    await replica.start();
    // the replica in step before the sentinel starts: the sentinel's first look at the primary
    // finds it (the next comes 10 s later)
    const replicaClient = direct(replicaPort);
    const watcher = direct(sentinelPort);
    clients.push(replicaClient, watcher);
    await eventually(
      async () => /master_link_status:up/.test(await replicaClient.info('replication')),
      'the replica in step',
    );
    await sentinel.start();
    await eventually(
      async () => ((await watcher.call('SENTINEL', 'REPLICAS', 'pipeline')) as unknown[]).length === 1,
      'the sentinel knows the replica',
    );
    return { replicaClient, watcher };
  };
  return { primary, replica, sentinel, primaryPort, replicaPort, sentinelPort, portSetting, clients, start };
}

/**
 * A primary and its replica (append-only, fsync always), servers of a test's own, for what a
 * failover loses: `start` starts both and resolves once the replica is in step, its append-only
 * file rewritten after the sync (what it receives before that is not in the file it would come
 * back from), and acknowledging (a primary streams a replica nothing after its sync, WAIT's
 * request for an acknowledgement included, until the replica's first acknowledgement, sent once
 * a second, so a WAIT in that second finds none). `client` connects (disconnected after the
 * suite, when the pair is removed).
 */
export async function replicatedPair(connect: (url: string) => Redis) {
  const primaryPort = await freePort();
  // (its replica synced at once, not after the 5 s Redis waits for others to sync with)
  const primary = ownRedisServer({ port: primaryPort, args: ['--repl-diskless-sync-delay', '0'] });
  const replicaPort = await freePort();
  const replica = ownRedisServer({
    port: replicaPort,
    appendOnly: true,
    args: ['--replicaof', '127.0.0.1', String(primaryPort)],
  });
  const clients: Redis[] = [];
  const client = (url: string) => {
    const redis = connect(url);
    clients.push(redis);
    return redis;
  };
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await replica.remove();
    await primary.remove();
  });
  const start = async () => {
    await primary.start();
    await replica.start();
    const onReplica = client(replica.socket);
    await eventually(
      async () =>
        /master_link_status:up/.test(await onReplica.info('replication')) &&
        /aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n/.test(await onReplica.info('persistence')),
      'the replica in step',
    );
    const probe = client(primary.socket);
    await eventually(
      async () => (await probe.set('probe', '1'), (await probe.wait(1, 100)) === 1),
      'the replica acknowledging',
    );
  };
  /** the primary killed, the replica brought back from its file and promoted (a failover) */
  const failOver = async (): Promise<Redis> => {
    await primary.kill();
    await replica.start();
    const promoted = client(replica.socket);
    await promoted.call('REPLICAOF', 'NO', 'ONE');
    return promoted;
  };
  return { primary, replica, primaryPort, replicaPort, client, start, failOver };
}
