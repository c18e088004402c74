/** The soak's command line: pure parsing, errors that name the flag. */

interface SoakOptions {
  /** how many times to run the whole suite */
  runs: number;
  /** keep one core busy with a spinning child during every run */
  busy: boolean;
  /** keep the temporary clone (and its reports) afterwards */
  keep: boolean;
  /** commit to soak; default HEAD of the repository the soak is started from */
  commit: string;
  /** passed on to vitest after npm test's own arguments (after a second --), e.g. --project unit */
  vitestArgs: string[];
}

export const soakUsage = `usage: npm run test:soak -- [--runs N] [--busy] [--commit REF] [--keep] [-- VITEST-ARGS]

Clones the current commit into a temporary directory and runs the whole suite
(npm test) there N times, one after the other; prints each test file's pass
count and durations and the totals. Exits non-zero if any run failed.

  --runs N       how many runs (1-50, default 3)
  --busy         keep one core busy (a spinning child process) during every run
  --commit REF   the commit to soak (default HEAD; uncommitted changes are not included)
  --keep         keep the clone and the per-run JSON reports
  -- ARGS        more vitest arguments for every run (e.g. -- --project cluster)
  --help         this text`;

export function parseSoakArgs(argv: readonly string[]): SoakOptions | 'help' {
  const options: SoakOptions = { runs: 3, busy: false, keep: false, commit: 'HEAD', vitestArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      options.vitestArgs = argv.slice(i + 1);
      break;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--runs': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 50) {
          throw new Error(`--runs: "${v}" is not allowed; use a whole number from 1 to 50`);
        }
        options.runs = n;
        break;
      }
      case '--busy':
        options.busy = true;
        break;
      case '--keep':
        options.keep = true;
        break;
      case '--commit':
        options.commit = value();
        break;
      default:
        throw new Error(`unknown argument "${arg}" (see --help)`);
    }
  }
  return options;
}
