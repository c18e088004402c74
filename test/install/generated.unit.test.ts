// dist/install.yaml, the chart's CRDs and its copy of the alerting rules are generated
// (npm run generate:install): this fails when one of them is stale.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { ensureTools, repoRoot } from '../../cluster/tools.ts';
import { generatedFiles } from '../../hack/generate-install.ts';

let kubectl: string;

beforeAll(async () => {
  kubectl = join(await ensureTools(), 'kubectl');
}, 3_600_000);

test('the generated install files are up to date (npm run generate:install)', async () => {
  const files = await generatedFiles(kubectl);
  expect([...files.keys()]).toContain('dist/install.yaml');
  for (const [path, content] of files) {
    const onDisk = await readFile(join(repoRoot, path), 'utf8').catch(() => '(missing)');
    expect(onDisk, `${path} is stale: run npm run generate:install`).toBe(content);
  }
});
