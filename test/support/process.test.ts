import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { eventually } from './stack.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a server of a test’s own', () => {
  it('dies with the test process that started it, however that ends', async () => {
    // a stand-in for a test process: it starts a long-lived child, says its pid, and is killed
    const script = [
      "import { spawn } from 'node:child_process';",
      "import { killedWithParent } from './test/support/process.ts';",
      "const child = spawn('sleep', ['600'], { stdio: 'ignore' });",
      'killedWithParent(child);',
      'console.log(child.pid);',
      'setInterval(() => undefined, 1000);',
    ].join('\n');
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (c: Buffer) => resolve(Number(c))));
    expect(alive(pid)).toBe(true);
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill('SIGKILL');
    await exited;
    await eventually(async () => !alive(pid), 'the child gone', 5_000);
  });
});
