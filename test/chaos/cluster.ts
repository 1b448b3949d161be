import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { startNodeProcess } from '../support/process.ts';

const root = join(import.meta.dirname, '..', '..');

/** The local stack's services by the name its pid files carry (kafka-1 …, redis). */
export class StackControl {
  constructor(private readonly env: Record<string, string>) {}

  private get dir(): string {
    const dir = this.env.STACK_DIR;
    if (!dir) throw new Error('STACK_DIR must name the stack the chaos test runs on');
    return dir;
  }

  pidOf(name: string): number {
    return Number(readFileSync(join(this.dir, 'pids', `${name}.pid`), 'utf8').trim());
  }

  kill(name: string): void {
    process.kill(this.pidOf(name), 'SIGKILL');
  }

  /** stops the process where it is (SIGSTOP): its sockets stay open and answer nothing, as a hung host's do */
  pause(name: string): void {
    process.kill(this.pidOf(name), 'SIGSTOP');
  }

  /** lets a paused process go on (SIGCONT); a process not running is left alone */
  resume(name: string): void {
    try {
      process.kill(this.pidOf(name), 'SIGCONT');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** `stack.sh up`: starts what is not running and waits until every service is ready again. */
  async restartMissing(): Promise<void> {
    // (no install step: node_modules reinstalled under the running instances would break them)
    const child = spawn('bash', [join(root, 'deploy', 'local', 'stack.sh'), 'up'], {
      env: { ...process.env, ...this.env, STACK_SKIP_INSTALL: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
    child.stderr.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`stack.sh up exited ${code}:\n${out}`);
  }
}

/** Java's String.hashCode, as Kafka uses it to place a transactional id on __transaction_state. */
export function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** One instance of one of our processes, restartable under the same name. */
export class Instance {
  private current: ReturnType<typeof startNodeProcess> | null = null;
  /** the processes this test stopped or killed itself (any other exit is a crash) */
  private readonly stopped = new WeakSet<object>();
  port = 0;
  /** every exit this test did not ask for: when, its code and the end of its log */
  readonly crashes: { at: number; code: number | string; tail: string }[] = [];
  /** every start that did not get ready in time, and every stop that did not drain in time */
  readonly hangs: { at: number; what: string; tail: string }[] = [];

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: () => Record<string, string>,
    private readonly pattern: RegExp,
  ) {}

  /**
   * Starts the process and waits until it is ready. Like a Deployment's pod, a process that
   * exits on its own is started again after 2 s (up to 3 tries while it starts); each such exit
   * is kept as a crash, with the end of its log, so the test can say what happened. A start
   * that is not ready within `readyTimeoutMs` (a startup probe's bound) is SIGKILLed, kept as a
   * hang with the end of its log, and tried again the same way: a test never waits on it for ever.
   */
  async start(tries = 3, readyTimeoutMs = Number(process.env.CHAOS_READY_TIMEOUT_MS ?? 180_000)): Promise<void> {
    // CHAOS_LOG_DIR keeps every instance's whole log, one file per name, for a look afterwards
    const dir = process.env.CHAOS_LOG_DIR;
    if (dir) mkdirSync(dir, { recursive: true });
    // (the same INSTANCE_ID after a restart: with TRANSACTION_SCOPE=instance it settles at once
    // the transaction its predecessor left open)
    const c = startNodeProcess(this.script, { INSTANCE_ID: this.name, ...this.env() }, this.pattern, {
      ...(dir ? { logFile: join(dir, `${this.name}.log`) } : {}),
    });
    this.current = c;
    let ready = false;
    void c.exited.then((code) => {
      if (this.stopped.has(c)) return;
      this.crashes.push({ at: Date.now(), code, tail: tail(c.output()) });
      if (ready)
        setTimeout(() => {
          if (this.current === c) this.start().catch(() => undefined);
        }, 2_000);
    });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.stopped.add(c);
        this.hangs.push({
          at: Date.now(),
          what: `not ready ${readyTimeoutMs / 1000} s after its start`,
          tail: tail(c.output()),
        });
        c.child.kill('SIGKILL');
        reject(
          new Error(`${this.name} was not ready ${readyTimeoutMs / 1000} s after its start:\n${tail(c.output())}`),
        );
      }, readyTimeoutMs);
    });
    try {
      this.port = await Promise.race([c.ready, late]);
      ready = true;
    } catch (err) {
      // (a process this test stopped or killed while it started is not started again)
      if (tries <= 1 || (this.stopped.has(c) && !timedOut)) throw err;
      await c.exited;
      await sleep(2_000);
      return this.start(tries - 1, readyTimeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  get running(): boolean {
    return this.current !== null && this.current.child.exitCode === null && this.current.child.signalCode === null;
  }

  async kill(): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.stopped.add(c);
    c.child.kill('SIGKILL');
    await c.exited;
  }

  /**
   * SIGTERM and the exit code it drained to (0 when it drained cleanly). A process still there
   * `graceMs` later (its own drain bound has passed) is SIGKILLed, as Kubernetes does at the end
   * of terminationGracePeriodSeconds, and kept as a hang.
   */
  async stop(graceMs = 45_000): Promise<number | string> {
    const c = this.current;
    if (!c || !this.running) return 'not running';
    this.stopped.add(c);
    c.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      const at = Date.now();
      // what it was doing, read from the OS before it is killed (a spinning event loop and a
      // process waiting on something look alike in its log: both are silent)
      void diagnose(c.child.pid).then((said) => {
        this.hangs.push({
          at,
          what: `still running ${graceMs / 1000} s after SIGTERM`,
          tail: `${said}\n${tail(c.output())}`,
        });
        c.child.kill('SIGKILL');
      });
    }, graceMs);
    try {
      return await c.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  output(): string {
    return this.current?.output() ?? '';
  }
}

/**
 * What a process is doing, from /proc over one second: its main thread's state, the CPU it took
 * (about 1,000 ms: JavaScript that never yields; about 0: waiting), the kernel function it waits
 * in, and its resident memory. Says so when it cannot be read (not Linux, already gone).
 */
export async function diagnose(pid: number | undefined): Promise<string> {
  if (pid === undefined) return 'diagnosis: no pid';
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8');
  // the fields after the command's name (which may hold spaces) in /proc/<pid>/task/<pid>/stat
  const stat = () => {
    const line = read(`task/${pid}/stat`);
    return line.slice(line.lastIndexOf(')') + 2).split(' ');
  };
  // utime and stime, fields 14 and 15 of stat (11 and 12 after the name), in clock ticks of 10 ms
  const cpuMs = (f: string[]) => (Number(f[11]) + Number(f[12])) * 10;
  try {
    const before = stat();
    await sleep(1_000);
    const after = stat();
    const rss = /VmRSS:\s+(\d+)/.exec(read('status'))?.[1];
    const wchan = read(`task/${pid}/wchan`);
    return (
      `diagnosis: main thread state ${after[0]}, ${cpuMs(after) - cpuMs(before)} ms CPU in 1 s, ` +
      `waiting in ${['', '0'].includes(wchan) ? '(nothing: running)' : wchan}, resident ${Math.round(Number(rss) / 1024)} MiB`
    );
  } catch (err) {
    return `diagnosis: /proc/${pid} not readable (${(err as Error).message})`;
  }
}

/** the end of a process's log, enough to say what it was doing */
const tail = (out: string) => out.trimEnd().split('\n').slice(-15).join('\n');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits, up to 5 minutes, until no partition is under-replicated; says how long it took. */
export async function inSyncAgain(kafka: KafkaAdapter): Promise<string> {
  const since = Date.now();
  let behind: string[] = [];
  while (Date.now() - since < 300_000) {
    // the cluster may not answer while it settles: ask again
    behind = await kafka.underReplicated().catch(() => ['(no answer)']);
    if (behind.length === 0) return `in sync again ${((Date.now() - since) / 1000).toFixed(0)} s after its start`;
    await sleep(1_000);
  }
  return `${behind.length} partitions still under-replicated 300 s after its start (${behind.slice(0, 5).join(', ')})`;
}
