// `sluice init [dir]`: a starter project. (Being written.)
import type { Command } from 'commander';

export function registerInit(program: Command): void {
  program.command('init [dir]').description('create a starter project: a pipeline, its test and a README');
}
