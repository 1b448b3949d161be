/**
 * The dead-letter topic, for an operator (`./dev dlq …` locally; in production the same command
 * with the deployment's environment: `node --import tsx scripts/dlq.ts …` in the image):
 *
 *   list     [--stage S] [--code C] [--since ISO] [--until ISO] [--key K] [--all]
 *            letters not yet replayed or handled (--all: every one), grouped by the original
 *            record, which several stages may have dead-lettered
 *   show     ID            one letter, with its original record decoded
 *   replay   ID…           writes each letter's original record back for the stage that
 *                          dead-lettered it, and only for that stage; once per letter
 *   handled  ID…           marks letters dealt with another way (never replayed, not listed)
 *
 * ID is the letter's `partition:offset` on the dead-letter topic, as `list` prints it. Keys and
 * reasons are masked in `list` (they may hold addresses); `show` prints the record as it is.
 * Reads KAFKA_*, SCHEMA_REGISTRY_URL, REDIS_URL, TOPIC_PREFIX, REDIS_PREFIX like the stages.
 */
import { parseArgs } from 'node:util';
import { DeadLetters, type Letter } from '../platform/dead-letters.ts';
import { maskPersonalData } from '../platform/logger.ts';
import { rebuildClients } from './rebuild-clients.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    stage: { type: 'string' },
    code: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    key: { type: 'string' },
    all: { type: 'boolean', default: false },
  },
});
const [command, ...ids] = positionals;
const usage = () => {
  console.error('usage: dlq list [--stage S] [--code C] [--since ISO] [--until ISO] [--key K] [--all]');
  console.error('       dlq show ID | dlq replay ID… | dlq handled ID…');
  process.exit(2);
};
const time = (s: string | undefined, name: string) => {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    console.error(`--${name} is not a date and time: ${s}`);
    process.exit(2);
  }
  return t;
};
if (!command || !['list', 'show', 'replay', 'handled'].includes(command)) usage();
if (command !== 'list' && ids.length === 0) usage();
const since = time(values.since, 'since');
const until = time(values.until, 'until');

const { config, kafka, codec, redis, close } = rebuildClients();
const letters = new DeadLetters(kafka, codec, redis, config.TOPIC_PREFIX, config.REDIS_PREFIX ?? config.TOPIC_PREFIX);
const iso = (t: number) => new Date(t).toISOString();
let failed = false;

try {
  if (command === 'list') {
    const found = await letters.list({
      ...(values.stage ? { stage: values.stage } : {}),
      ...(values.code ? { code: values.code } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(values.key !== undefined ? { key: values.key } : {}),
      all: values.all,
    });
    const groups = new Map<string, Letter[]>();
    for (const l of found) {
      const g = `${l.letter.originalTopic} ${l.letter.originalPartition}:${l.letter.originalOffset}`;
      groups.set(g, [...(groups.get(g) ?? []), l]);
    }
    for (const [origin, group] of groups) {
      const key = group[0]!.letter.originalKey?.toString('utf8') ?? '(no key)';
      console.log(`${origin}  key ${maskPersonalData(key)}`);
      for (const { id, letter, state } of group) {
        const st = state ? `  [${state.state} ${iso(state.at)}]` : '';
        console.log(
          `  ${id.padEnd(10)} ${letter.stage.padEnd(20)} ${letter.errorCode.padEnd(22)} ${iso(letter.failedAt)}  attempts ${letter.attempts}${st}`,
        );
        console.log(`             ${maskPersonalData(letter.reason)}`);
      }
    }
    console.log(`${found.length} dead letters of ${groups.size} records`);
  } else if (command === 'show') {
    const found = await letters.get(ids[0]!);
    if (!found) {
      console.error(`no dead letter ${ids[0]}`);
      failed = true;
    } else {
      const { letter } = found;
      const original = await letters.original(letter);
      console.log(
        JSON.stringify(
          {
            id: found.id,
            state: found.state,
            stage: letter.stage,
            errorCode: letter.errorCode,
            reason: letter.reason,
            attempts: letter.attempts,
            failedAt: iso(letter.failedAt),
            original: {
              topic: letter.originalTopic,
              partition: letter.originalPartition,
              offset: letter.originalOffset,
              key: letter.originalKey?.toString('utf8') ?? null,
              headers: Object.fromEntries(
                Object.entries(letter.originalHeaders).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]),
              ),
              value: original ?? { undecodable: letter.originalValue?.toString('base64') ?? null },
            },
          },
          null,
          2,
        ),
      );
    }
  } else {
    for (const id of ids) {
      const r = command === 'replay' ? await letters.replay(id) : await letters.handled(id);
      if (r.kind === 'done') console.log(`${id}: ${command === 'replay' ? 'replayed' : 'marked handled'}`);
      else if (r.kind === 'not-found') {
        console.error(`${id}: no such dead letter`);
        failed = true;
      } else {
        console.error(
          `${id}: already ${r.state.state} at ${iso(r.state.at)}; not ${command === 'replay' ? 'replayed' : 'marked'} again`,
        );
        failed = true;
      }
    }
  }
} finally {
  await close();
}
process.exit(failed ? 1 : 0);
