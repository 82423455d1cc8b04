// The SQL planner tests' two probes over a script prefix (their CREATE TABLEs): the plan of its one bare SELECT, and
// the SluiceError a script is refused with.
import assert from 'node:assert/strict';
import { isSluiceError } from '../../src/errors.ts';
import { planScript, type QueryPlan } from '../../src/sql/index.ts';

export function sqlPlanning(ddl = ''): {
  select(text: string): Promise<QueryPlan>;
  refusal(text: string): Promise<Error>;
} {
  return {
    async select(text) {
      return (await planScript(`${ddl}${text}`, { selects: true })).selects[0]!;
    },
    async refusal(text) {
      try {
        await planScript(`${ddl}${text}`, { selects: true });
      } catch (e) {
        assert.ok(isSluiceError(e), String(e));
        return e as Error;
      }
      assert.fail('the script was accepted');
    },
  };
}
