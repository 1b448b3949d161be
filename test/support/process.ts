import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export interface StageProcess {
  child: ChildProcess;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  /** resolves when the process logs that its stages run */
  running: Promise<void>;
  output: () => string;
}

/**
 * Starts `processors/main.ts` as its own OS process (node with tsx's loader, a single process,
 * so signals reach the stage itself), keeping all of its output.
 */
export function startStageProcess(stages: string[], env: Record<string, string>): StageProcess {
  const p = startNodeProcess('processors/main.ts', env, /"msg":"stages running"/, { args: stages, keepAll: true });
  const running = p.ready.then(() => undefined);
  // a process stopped before it ran is a failure only for a caller that awaits `running`
  running.catch(() => undefined);
  return { child: p.child, exited: p.exited, running, output: p.output };
}

/**
 * Starts one of the project's entry points (`script`, relative to the root, or to `cwd` for an
 * installed copy of the project) as its own process; `ready` resolves once its output matches
 * `pattern`, with the port its first group captured (0 without one).
 */
export function startNodeProcess(
  script: string,
  env: Record<string, string>,
  pattern: RegExp,
  /** `node`: another Node binary than this process's (the image's, for the container test) */
  options: { args?: string[]; keepAll?: boolean; cwd?: string; logFile?: string; node?: string } = {},
) {
  const cwd = options.cwd ?? root;
  const child = spawn(
    options.node ?? process.execPath,
    ['--import', 'tsx', join(cwd, script), ...(options.args ?? [])],
    {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let matched = false;
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : null;
  let markReady!: (port: number) => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<number>((res, rej) => {
    markReady = res;
    failReady = rej;
  });
  ready.catch(() => undefined);
  const onData = (chunk: Buffer) => {
    // (the tail is enough to say why it failed, unless the caller reads the whole log)
    out += chunk.toString();
    log?.write(chunk);
    if (!options.keepAll && out.length > 40_000) out = out.slice(-20_000);
    if (matched) return;
    const m = pattern.exec(out);
    if (m) {
      matched = true;
      markReady(Number(m[1] ?? 0));
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  // 'close', not 'exit': the process's last lines may still be in the pipes when it exits, and
  // what it said last is what a failure needs (a drain's last step, a fatal error)
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      log?.end();
      failReady(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${out.slice(-4000)}`));
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, exited, ready, output: () => out };
}

/** A port no one listens on now, for a process that takes a port number rather than 0. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/**
 * `child` is killed (SIGKILL) within a second of this process's end, however it ends: a test
 * run killed outright (a timeout, ^C twice) leaves no server of a test's own behind, holding
 * its port and memory (a redis-server ignores the broken pipe of its log, so it outlives its
 * parent). A detached shell watches both and ends with whichever ends first.
 */
export function killedWithParent(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const watch =
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -0 "$1" 2>/dev/null || kill -9 "$2" 2>/dev/null';
  spawn('sh', ['-c', watch, 'watch', String(process.pid), String(child.pid)], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}
