/**
 * The kind path cannot run here (no Docker engine), so what can be checked
 * without it is checked: the kind configuration publishes the NodePort the
 * runner dials, run.sh loads every image tag the suite rolls to, and the
 * Dockerfile's targets start the same entry points the local cluster runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';
import { DEFAULT_OPTIONS } from '../../experiment/options.ts';
import { imageTag } from '../../experiment/run.ts';
import { ALL_PLANS, E2E_NODE_PORT } from '../e2e/plans.ts';

const here = join(repoRoot, 'cluster', 'kind');
const runSh = readFileSync(join(here, 'run.sh'), 'utf8');

describe('the kind path', () => {
  test('kind publishes the experiment NodePort on the host loopback, where the runner sends the load', () => {
    const config = parse(readFileSync(join(here, 'kind-config.yaml'), 'utf8'));
    expect(config).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    const mappings = config.nodes.flatMap(
      (n: { extraPortMappings?: unknown[] }) => n.extraPortMappings ?? [],
    );
    for (const port of [DEFAULT_OPTIONS.nodePort, E2E_NODE_PORT]) {
      expect(mappings).toContainEqual({
        containerPort: port,
        hostPort: port,
        listenAddress: '127.0.0.1',
        protocol: 'TCP',
      });
    }
  });

  test('run.sh loads every workload tag the end-to-end suite rolls to, and the operator image', () => {
    const tags = /^WORKLOAD_TAGS="([^"]+)"$/m.exec(runSh)?.[1]?.split(' ') ?? [];
    const highest = Math.max(...ALL_PLANS.map((p) => p.rollouts)) + 1;
    for (let n = 1; n <= highest; n++) expect(tags).toContain(imageTag(n).split(':')[1]);
    expect(runSh).toMatch(/^OPERATOR_IMAGE="lastcall\/operator:dev"$/m);
    expect(runSh).toContain('kind load docker-image');
    expect(runSh).toContain('apply -k config/default');
    expect(runSh).toContain(
      'LASTCALL_E2E_KUBECONFIG="$kubeconfig" npx vitest run --project cluster test/e2e',
    );
  });

  test('the Dockerfile targets run the entry points the local cluster maps the images to', () => {
    const dockerfile = join(repoRoot, 'Dockerfile');
    expect(
      existsSync(dockerfile),
      `${dockerfile} must exist: run.sh builds --target workload and operator`,
    ).toBe(true);
    const text = readFileSync(dockerfile, 'utf8');
    const images = JSON.parse(readFileSync(join(repoRoot, 'cluster', 'images.json'), 'utf8')).images;
    for (const [target, repository] of [
      ['workload', 'lastcall/workload'],
      ['operator', 'lastcall/operator'],
    ] as const) {
      const stage = stageOf(text, target);
      expect(stage, `Dockerfile stage "${target}"`).toBeDefined();
      // the local cluster runs `${NODE} ${REPO}/<path>.ts`; the image must run the same file
      const script = (images[repository].entrypoint as string[])[1]?.replace(/^\$\{REPO\}\//, '');
      expect(stage).toContain(script);
    }
  });
});

/** The text of `FROM ... AS <name>` up to the next FROM. */
function stageOf(dockerfile: string, name: string): string | undefined {
  const stages = dockerfile.split(/^(?=FROM\s)/im);
  return stages.find((s) =>
    new RegExp(`^FROM\\s+\\S+\\s+AS\\s+${name}\\s*$`, 'im').test(s.split('\n')[0] ?? ''),
  );
}
