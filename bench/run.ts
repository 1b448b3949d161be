/**
 * The benchmarks: `./dev bench [--suite runtime|scheduler|chain|gateway|email|sms|all] [--records N] [--rounds R] [--items N]
 *  [--seconds S] [--connections C] [--tps T]`.
 * Each prints its figures side by side with what the same stack allows, never as a pass/fail.
 */
import { parseArgs } from 'node:util';
import { runtimeBench } from './runtime.ts';
import { chainBench } from './chain.ts';
import { emailBench } from './email.ts';
import { gatewayBench } from './gateway.ts';
import { schedulerBench } from './scheduler.ts';
import { smsBench } from './sms.ts';

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'all' },
    records: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    items: { type: 'string', default: '100000' },
    spread: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    tps: { type: 'string', default: '200' },
  },
});
const suites = values.suite === 'all' ? ['runtime', 'scheduler', 'chain', 'gateway', 'email', 'sms'] : [values.suite];
for (const suite of suites) {
  console.log(`\n=== ${suite} ===`);
  if (suite === 'runtime') await runtimeBench(Number(values.records), Number(values.rounds));
  else if (suite === 'scheduler') await schedulerBench(Number(values.items), Number(values.spread));
  else if (suite === 'chain') await chainBench(Number(values.records));
  else if (suite === 'email') await emailBench(Math.min(Number(values.records), 20_000));
  else if (suite === 'sms') await smsBench(Math.min(Number(values.records), 10_000), Number(values.tps));
  else if (suite === 'gateway') await gatewayBench(Number(values.seconds), Number(values.connections));
  else throw new Error(`unknown suite ${suite}: runtime, scheduler, chain, gateway, email, sms or all`);
}
process.exit(0);
