import { tsImport } from 'tsx/esm/api';
await tsImport('./export-worker.ts', import.meta.url);
