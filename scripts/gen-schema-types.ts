/**
 * Derives TypeScript types from schemas/*.avsc into platform/schemas/generated/.
 *   tsx scripts/gen-schema-types.ts          write the files
 *   tsx scripts/gen-schema-types.ts --check  fail if any file is missing or stale
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { toTypeScript } from '@ovotech/avro-ts';
import type { Schema } from 'avsc';

const root = join(import.meta.dirname, '..');
const schemaDir = join(root, 'schemas');
const outDir = join(root, 'platform', 'schemas', 'generated');
const check = process.argv.includes('--check');

// avro-ts calls TypeScript factory functions that print deprecation notices; they are noise here.
console.warn = () => undefined;

const stale: string[] = [];
if (!check) mkdirSync(outDir, { recursive: true });
for (const file of readdirSync(schemaDir)
  .filter((f) => f.endsWith('.avsc'))
  .sort()) {
  const schema = JSON.parse(readFileSync(join(schemaDir, file), 'utf8')) as Schema;
  const code = [
    `// Generated from schemas/${file} by scripts/gen-schema-types.ts. Do not edit.`,
    '/* eslint-disable */',
    toTypeScript(schema),
    '',
  ].join('\n');
  const target = join(outDir, `${basename(file, '.avsc')}.ts`);
  if (check) {
    if (!existsSync(target) || readFileSync(target, 'utf8') !== code) stale.push(target);
  } else {
    writeFileSync(target, code);
  }
}
if (stale.length > 0) {
  console.error(`generated schema types are stale; run npm run gen:types\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
