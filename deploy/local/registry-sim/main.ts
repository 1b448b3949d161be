import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRegistrySimulator, Seed } from './app.ts';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '19090' }, seed: { type: 'string' } },
});
const seed = Seed.parse(values.seed ? JSON.parse(readFileSync(values.seed, 'utf8')) : {});
const port = Number(values.port);
createRegistrySimulator(seed).listen(port, '127.0.0.1', () => {
  console.log(
    `registry simulator on 127.0.0.1:${port} (${seed.persons.length} persons, ${seed.organizations.length} organisations)`,
  );
});
