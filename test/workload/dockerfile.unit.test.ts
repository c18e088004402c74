// The Dockerfile cannot be built here (no Docker engine): check what matters for signals and
// security statically. Each target must exist, start with an exec-form command whose entry file
// exists in the repository, run as a numeric non-root user, and build on Node 24.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const REPO_ROOT = join(import.meta.dirname, '../..');

interface Stage {
  name: string;
  from: string;
  instructions: Array<{ keyword: string; args: string }>;
}

/** A small Dockerfile reader: continuation lines, comments, ARG defaults, stages and their instructions. */
function readDockerfile(path: string): { args: Record<string, string>; stages: Stage[] } {
  const text = readFileSync(path, 'utf8').replace(/\\\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [, from = '', name = String(stages.length)] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({
        name,
        from: from.replace(/\$\{(\w+)\}/g, (_, arg: string) => args[arg] ?? ''),
        instructions: [],
      });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=');
      args[name] = value;
    } else {
      stages.at(-1)?.instructions.push({ keyword: upper, args: rest });
    }
  }
  return { args, stages };
}

/** The stage chain of a target, base first (FROM <earlier stage>). */
function chain(stages: Stage[], target: string): Stage[] {
  const stage = stages.find((s) => s.name === target);
  if (stage === undefined) return [];
  const parent = stages.find((s) => s.name === stage.from);
  return parent ? [...chain(stages, parent.name), stage] : [stage];
}

function last(stages: Stage[], keyword: string): string | undefined {
  return stages.flatMap((s) => s.instructions.filter((i) => i.keyword === keyword)).at(-1)?.args;
}

const dockerfile = readDockerfile(join(REPO_ROOT, 'Dockerfile'));

describe.each([
  ['workload', 'workload/main.ts'],
  ['operator', 'operator/main.ts'],
])('Dockerfile target %s', (target, entry) => {
  const stages = chain(dockerfile.stages, target);

  test('exists and builds on Node 24 (bookworm-slim)', () => {
    expect(stages.map((s) => s.name)).toContain(target);
    expect(stages[0]?.from).toBe('node:24-bookworm-slim');
  });

  test(`starts ${entry} with an exec-form CMD (node is PID 1 and receives SIGTERM)`, () => {
    const cmd = last(stages, 'CMD');
    expect(cmd, 'CMD').toBeDefined();
    const argv = JSON.parse(cmd ?? '') as string[];
    expect(argv).toEqual(['node', entry]);
    expect(existsSync(join(REPO_ROOT, entry))).toBe(true);
    // No ENTRYPOINT: a shell-form one would put /bin/sh between the kubelet's signal and node.
    expect(last(stages, 'ENTRYPOINT')).toBeUndefined();
  });

  test('runs as a numeric non-root user', () => {
    const user = last(stages, 'USER');
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user?.split(':')[0])).toBeGreaterThan(0);
  });

  test('copies its own sources and only production dependencies', () => {
    const copies = stages.flatMap((s) =>
      s.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args),
    );
    expect(copies).toContain(`${target}/ ./${target}/`);
    // The operator–workload contracts: both sides import them (contracts/*.ts).
    expect(copies).toContain('contracts/ ./contracts/');
    expect(copies).toContain('--from=deps /app/node_modules ./node_modules');
    const deps = dockerfile.stages.find((s) => s.name === 'deps');
    expect(deps?.instructions.find((i) => i.keyword === 'RUN')?.args).toMatch(/npm ci --omit=dev/);
  });

  test(`holds every file ${entry} imports (e.g. the operator's kube/ client)`, () => {
    const copied = stages.flatMap((s) =>
      s.instructions
        .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
        .map((i) => /^(\S+)\/ \.\/\1\/$/.exec(i.args)?.[1])
        .filter((dir): dir is string => dir !== undefined),
    );
    const allowed = dockerignoreAllowed();
    const missing = importClosure(entry).filter((file) => {
      const top = file.split('/')[0] ?? '';
      return !copied.includes(top) || !allowed.includes(top);
    });
    expect(missing, 'imported but not in the image').toEqual([]);
  });
});

/** Top-level folders the .dockerignore allow-list lets into the build context ("!dir/"). */
function dockerignoreAllowed(): string[] {
  return readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => /^!([^/*]+)\/$/.exec(l.trim())?.[1])
    .filter((dir): dir is string => dir !== undefined);
}

/** Repository files reachable from `entry` through relative imports (static and dynamic). */
function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const match of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
      visit(relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), match[1] ?? '')));
    }
  };
  visit(entry);
  return [...seen];
}

test('.dockerignore keeps tests and everything else out of the build context', () => {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  expect(patterns[0]).toBe('*');
  expect(patterns).toEqual(
    expect.arrayContaining([
      '!package.json',
      '!package-lock.json',
      '!workload/',
      '!operator/',
      '!kube/',
      '!contracts/',
    ]),
  );
  expect(patterns.at(-1)).toBe('**/*.test.ts');
});
