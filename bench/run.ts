/**
 * The benchmarks: `./dev bench [--suite runtime|scheduler|claim|chain|layout|gateway|email|sms|e2e|instant|fair|dashboard|all] [--records N]
 *  [--rounds R] [--instances I] [--items N] [--seconds S] [--connections C] [--tps T] [--orders N] [--rate R] [--layouts 0,2,0p]
 *  [--queued N] [--window S] [--load C]`.
 * Each prints its figures side by side with what the same stack allows, never as a pass/fail.
 */
import { parseArgs } from 'node:util';
import { runtimeBench } from './runtime.ts';
import { chainBench } from './chain.ts';
import { emailBench } from './email.ts';
import { gatewayBench } from './gateway.ts';
import { schedulerBench } from './scheduler.ts';
import { claimBench } from './claim.ts';
import { smsBench } from './sms.ts';
import { endToEndBench, parseLayouts } from './end-to-end.ts';
import { layoutBench } from './layout.ts';
import { instantBench } from './instant.ts';
import { fairBench } from './fair.ts';
import { dashboardBench } from './dashboard.ts';

/** `--load`: 'auto', or cores (a number, 0 or more) */
function loadOf(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const cores = Number(v);
  if (v.trim() === '' || !(cores >= 0)) throw new Error(`--load ${v}: give a number of cores (0 or more) or auto`);
  return cores;
}

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'all' },
    records: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    items: { type: 'string', default: '100000' },
    spread: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    tps: { type: 'string' },
    orders: { type: 'string', default: '10000' },
    rate: { type: 'string' },
    instances: { type: 'string', default: '2' },
    layouts: { type: 'string', default: '0' },
    /** bulk SMS and emails queued (instant: 300,000, so four windows of bulk email do not drain it; fair: 100,000 at most) */
    queued: { type: 'string' },
    /** instant: cores the control window's busy loop takes ('auto': the CPU the instant orders took) */
    load: { type: 'string', default: 'auto' },
    window: { type: 'string', default: '30' },
  },
});
// (checked before any suite runs)
const load = loadOf(values.load);
const suites =
  values.suite === 'all'
    ? [
        'runtime',
        'scheduler',
        'claim',
        'chain',
        'layout',
        'gateway',
        'email',
        'sms',
        'e2e',
        'instant',
        'fair',
        'dashboard',
      ]
    : [values.suite];
for (const suite of suites) {
  console.log(`\n=== ${suite} ===`);
  if (suite === 'runtime') await runtimeBench(Number(values.records), Number(values.rounds));
  else if (suite === 'scheduler') await schedulerBench(Number(values.items), Number(values.spread));
  else if (suite === 'claim') await claimBench(Math.min(Number(values.items), 200_000));
  else if (suite === 'dashboard') await dashboardBench(Number(values.items));
  else if (suite === 'chain') await chainBench(Number(values.records));
  else if (suite === 'layout')
    await layoutBench(Math.min(Number(values.records), 30_000), Number(values.instances), Number(values.rounds));
  else if (suite === 'email') await emailBench(Math.min(Number(values.records), 20_000));
  else if (suite === 'sms') await smsBench(Math.min(Number(values.records), 10_000), Number(values.tps ?? 200));
  else if (suite === 'e2e')
    await endToEndBench(
      Number(values.orders),
      Number(values.connections),
      Number(values.tps ?? 1000),
      values.rate ? Number(values.rate) : undefined,
      parseLayouts(values.layouts),
    );
  else if (suite === 'gateway') await gatewayBench(Number(values.seconds), Number(values.connections));
  else if (suite === 'instant')
    await instantBench(Number(values.queued ?? 300_000), Number(values.window), Number(values.tps ?? 100), load);
  else if (suite === 'fair')
    await fairBench(
      Math.min(Number(values.queued ?? 100_000), 100_000),
      Number(values.window),
      Number(values.tps ?? 100),
    );
  else
    throw new Error(
      `unknown suite ${suite}: runtime, scheduler, claim, chain, layout, gateway, email, sms, e2e, instant, fair or all`,
    );
}
process.exit(0);
