import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    server = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server not ready in 15 s: ${out}`)), 15_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
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

  return { socket, start, kill, signal, remove };
}
