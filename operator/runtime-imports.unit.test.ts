// The operator process must not load TypeBox: the schemas are for generating CRDs and for tests,
// and loading them (about 200 modules) only to read the API group cost the process memory it never
// used. The runtime takes its values from api/constants.ts and api/resources.ts (plain values) and only
// types (erased) from api/types.ts.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const main = fileURLToPath(new URL('./main.ts', import.meta.url));

// Records every module the process resolves, then imports main.ts with an unknown flag: all of its
// imports are evaluated, then it exits with code 2 before connecting anywhere.
const probe = `
import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r; } });
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...loaded]) + '\\n'));
process.argv.push('--no-such-flag');
await import(${JSON.stringify(main)});
`;

test('the operator process loads no TypeBox and no schema module', async () => {
  const result = await run(process.execPath, ['--input-type=module', '-e', probe]).catch(
    (err: { code?: number; stderr?: string }) => err,
  );
  expect(result).toMatchObject({ code: 2 });
  const line = (result.stderr ?? '').split('\n').find((l) => l.startsWith('LOADED '));
  const loaded = JSON.parse(line?.slice('LOADED '.length) ?? '[]') as string[];
  expect(loaded.some((url) => url.endsWith('/operator/reconciler.ts'))).toBe(true);
  expect(loaded.filter((url) => url.includes('typebox'))).toEqual([]);
  // constants.ts and resources.ts hold plain values; the schemas stay unloaded.
  expect(loaded.filter((url) => url.includes('/operator/api/')).sort()).toEqual([
    expect.stringMatching(/\/operator\/api\/constants\.ts$/),
    expect.stringMatching(/\/operator\/api\/resources\.ts$/),
  ]);
});
