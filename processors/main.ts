/**
 * Runs pipeline stages in this process: `node --import tsx processors/main.ts scheduler [more…]`
 * (or STAGES=a,b). One process per stage (several instances each) scales by partitions; all in
 * one suits one small machine. See `runtime/process.ts`.
 */
import { runStageProcess } from './runtime/process.ts';
import { STAGES } from './stages.ts';

runStageProcess(STAGES);
