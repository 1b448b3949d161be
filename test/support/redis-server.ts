import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Redis server of a test's own (the `redis-server` the stack installed), on a Unix socket in a
 * folder of its own, for what a test must not do to the shared stack's Redis: kill it, demote it.
 * `start` (again after a kill) keeps the folder, so an append-only file survives; `remove` kills
 * it and deletes the folder.
 */
export function ownRedisServer(options: { appendOnly?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'own-redis-'));
  const socket = join(dir, 'redis.sock');
  let server: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const durability = options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      ['--port', '0', '--unixsocket', socket, '--dir', dir, ...durability, '--save', ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server not ready in 15 s: ${out}`)), 15_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        // "Ready to accept connections" (tcp) or "ready to accept connections at <socket>"
        if (/ready to accept connections/i.test(out)) {
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

  const remove = async (): Promise<void> => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };

  return { socket, start, kill, remove };
}
