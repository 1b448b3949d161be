import { spawn, type ChildProcess } from 'node:child_process';
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
 * so signals reach the stage itself).
 */
export function startStageProcess(stages: string[], env: Record<string, string>): StageProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'processors', 'main.ts'), ...stages], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let markRunning!: () => void;
  let failRunning!: (e: Error) => void;
  const running = new Promise<void>((res, rej) => {
    markRunning = res;
    failRunning = rej;
  });
  // a process stopped before it ran is a failure only for a caller that awaits `running`
  running.catch(() => undefined);
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('"msg":"stages running"')) markRunning();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      failRunning(new Error(`stage process exited (${code ?? signal}) before running:\n${out.slice(-4000)}`));
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, exited, running, output: () => out };
}

/**
 * Starts one of the project's entry points (`script`, relative to the root) as its own process;
 * `ready` resolves once its output matches `pattern`, with the port its first group captured.
 */
export function startNodeProcess(script: string, env: Record<string, string>, pattern: RegExp) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, script)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let markReady!: (port: number) => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<number>((res, rej) => {
    markReady = res;
    failReady = rej;
  });
  ready.catch(() => undefined);
  const onData = (chunk: Buffer) => {
    // the tail is enough to say why it failed; a long run's logs would only grow
    out = (out + chunk.toString()).slice(-20_000);
    const m = pattern.exec(out);
    if (m) markReady(Number(m[1] ?? 0));
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      failReady(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${out.slice(-4000)}`));
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, exited, ready, output: () => out };
}
