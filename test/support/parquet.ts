import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ParquetRead {
  schema: { name: string; type: string; nullable: boolean }[];
  rows: Record<string, unknown>[];
  /** the first column's values (the ids) as text: JSON's numbers hold only 53 bits */
  ids: string[];
  /** how many row groups the file has */
  rowGroups: number;
}

/**
 * A Parquet file as Apache Arrow's own reader reads it (pyarrow, in the tools venv
 * deploy/local/install.sh makes): its columns' types and nullability, and its rows, so a file
 * this system writes is checked by an implementation other than the one that wrote it.
 */
export function readParquet(file: Buffer): ParquetRead {
  const python = process.env.TOOLS_PYTHON;
  if (!python) throw new Error('TOOLS_PYTHON is not set: start the test stack (deploy/local/stack.sh up)');
  const dir = mkdtempSync(join(tmpdir(), 'parquet-'));
  try {
    const path = join(dir, `${randomUUID()}.parquet`);
    writeFileSync(path, file);
    const script = `
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({
  "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in t.schema],
  "rows": t.to_pylist(),
  "ids": [str(v) for v in t.column(0).to_pylist()] if t.num_columns else [],
  "rowGroups": pq.ParquetFile(sys.argv[1]).metadata.num_row_groups,
}))`;
    const r = spawnSync(python, ['-c', script, path], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`pyarrow could not read the file: ${r.error?.message ?? ''} ${r.stderr}`);
    return JSON.parse(r.stdout) as ParquetRead;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
