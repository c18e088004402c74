// npm run generate:install: the files derived from config/ and crds/ for the other ways to install.
//  - dist/install.yaml: `kubectl kustomize config/default` as one file (kubectl apply -f);
//  - charts/lastcall/crds/: the CRDs (Helm installs a chart's crds/ before its templates);
//  - charts/lastcall/files/rules.yaml: config/prometheus/rules.yaml, for the chart's PrometheusRule;
//  - charts/lastcall/files/role.yaml: config/rbac/role.yaml, whose rules the chart's ClusterRole uses.
// test/install/generated.unit.test.ts fails when any of them is stale.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ensureTools, repoRoot } from '../cluster/tools.ts';

const run = promisify(execFile);

const header = `# lastcall: CRDs, RBAC and the operator in one file (generated from config/default by
# npm run generate:install; do not edit). Install: kubectl apply --server-side -f dist/install.yaml
`;

/** Every generated file, by path relative to the repository root, with the content it must have. */
export async function generatedFiles(kubectl?: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const bin = kubectl ?? join(await ensureTools(), 'kubectl');
  const { stdout } = await run(bin, ['kustomize', join(repoRoot, 'config', 'default')], {
    maxBuffer: 64 * 1024 * 1024,
  });
  files.set('dist/install.yaml', header + stdout);
  for (const name of (await readdir(join(repoRoot, 'crds'))).sort()) {
    if (!name.endsWith('.yaml') || name === 'kustomization.yaml') continue;
    files.set(`charts/lastcall/crds/${name}`, await readFile(join(repoRoot, 'crds', name), 'utf8'));
  }
  files.set(
    'charts/lastcall/files/role.yaml',
    await readFile(join(repoRoot, 'config', 'rbac', 'role.yaml'), 'utf8'),
  );
  files.set(
    'charts/lastcall/files/rules.yaml',
    await readFile(join(repoRoot, 'config', 'prometheus', 'rules.yaml'), 'utf8'),
  );
  return files;
}

if (import.meta.main) {
  for (const [path, content] of await generatedFiles()) {
    await mkdir(dirname(join(repoRoot, path)), { recursive: true });
    await writeFile(join(repoRoot, path), content);
    process.stdout.write(`wrote ${path}\n`);
  }
}
