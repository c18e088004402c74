/**
 * Static checks of the kind path (`npm run e2e:kind` runs it for real; it takes
 * minutes and root, so it is not part of the unit tests): both kind configurations
 * publish the NodePorts the runner dials, every image tag the suite rolls to is
 * built and loaded, the node image carries this machine's fixes, the run compares
 * the machine-wide sysctls, and the Dockerfile's targets start the same entry
 * points the local cluster runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';
import { KIND_ROUTED_ENV } from '../../experiment/kind.ts';
import { DEFAULT_OPTIONS } from '../../experiment/options.ts';
import { imageTag } from '../../experiment/run.ts';
import { ALL_PLANS, E2E_NODE_PORT } from '../e2e/plans.ts';

const here = join(repoRoot, 'cluster', 'kind');
const runSh = readFileSync(join(here, 'run.sh'), 'utf8');
const imagesSh = readFileSync(join(here, 'images.sh'), 'utf8');
const nodeImageSh = readFileSync(join(here, 'node-image.sh'), 'utf8');
const configs = ['kind-config.yaml', 'kind-config.podman.yaml'];

describe('the kind path', () => {
  test.each(configs)(
    '%s publishes the NodePorts on the loopback, where the runner sends the load',
    (file) => {
      const config = parse(readFileSync(join(here, file), 'utf8'));
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
    },
  );

  test.each([
    ['run.sh', runSh],
    ['images.sh', imagesSh],
  ])(
    '%s builds and loads every workload tag the end-to-end suite rolls to, and the operator image',
    (_, script) => {
      const tags = /^WORKLOAD_TAGS="([^"]+)"$/m.exec(script)?.[1]?.split(' ') ?? [];
      const highest = Math.max(...ALL_PLANS.map((p) => p.rollouts)) + 1;
      for (let n = 1; n <= highest; n++) expect(tags).toContain(imageTag(n).split(':')[1]);
      expect(script).toMatch(/^OPERATOR_IMAGE="lastcall\/operator:dev"$/m);
    },
  );

  test('run.sh loads the images, installs lastcall and runs the e2e suite with either provider', () => {
    expect(runSh).toContain('kind load docker-image');
    expect(runSh).toContain('load image-archive');
    expect(runSh).toContain('KIND_EXPERIMENTAL_PROVIDER=podman');
    expect(runSh).toContain('apply -k config/default');
    expect(runSh.match(/LASTCALL_E2E_KUBECONFIG="\$kubeconfig"/g)).toHaveLength(2);
    expect(runSh).toContain('npx vitest run --project cluster "$' + '{tests[@]}"');
    expect(runSh).toContain('tests=(test/e2e)');
    // The namespace is entered with nsenter: `ip netns exec` remounts /sys (no cgroups).
    expect(runSh).toContain('nsenter --net=');
    expect(runSh).not.toMatch(/^[^#\n]*ip netns exec/m);
  });

  test("run.sh routes the pod and service ranges to the node in the project's namespace only, and says so to the suite", () => {
    expect(runSh).toContain('in_ns ip route replace "$pod_cidr" via "$node_ip"');
    expect(runSh).toContain('in_ns ip route replace "$service_cidr" via "$gateway"');
    // never a route in the machine's own namespace
    expect(runSh).not.toMatch(/^[^#\n]*(?<!in_ns )ip route/m);
    expect(runSh).toContain(`LASTCALL_E2E_KUBECONFIG="$kubeconfig" ${KIND_ROUTED_ENV}=1`);
  });

  test('the podman configuration runs the kubelet on this machine: cgroup v1, no negative OOM scores, static CNI', () => {
    const config = parse(readFileSync(join(here, 'kind-config.podman.yaml'), 'utf8'));
    expect(config.networking.disableDefaultCNI).toBe(true);
    const patches = (config.kubeadmConfigPatches as string[]).map((p) => parse(p));
    expect(patches).toContainEqual({ kind: 'KubeletConfiguration', failCgroupV1: false, oomScoreAdj: 0 });
    expect(nodeImageSh).toContain('restrict_oom_score_adj = true');
    expect(nodeImageSh).toMatch(/LimitNOFILE=20000\nLimitNPROC=32768\nOOMScoreAdjust=0/);
    // kube-proxy writes its rules with the node's iptables backend (legacy or nft), like upstream's image.
    expect(imagesSh).toMatch(/iptables_wrapper "\$mnt"/);
  });

  test('the node keeps /proc/sys read-only except net, and the run compares the machine-wide sysctls', () => {
    expect(nodeImageSh).toContain('mount -o remount,bind,ro /proc/sys');
    expect(nodeImageSh).toContain('mount --bind /proc/sys/net /proc/sys/net');
    expect(nodeImageSh).toMatch(/--entrypoint '\["\/usr\/local\/bin\/lastcall-entrypoint"/);
    expect(runSh).toContain('sysctl_compare "$state/sysctl.before" "$state/sysctl.after"');
    // The counters left out of the comparison never hide a setting the node could change.
    const volatile = new RegExp(/^VOLATILE_SYSCTLS='([^']+)'$/m.exec(runSh)?.[1] ?? 'missing');
    for (const name of [
      'fs.protected_hardlinks',
      'fs.protected_symlinks',
      'fs.protected_fifos',
      'fs.protected_regular',
      'fs.file-max',
      'fs.nr_open',
      'kernel.panic',
      'kernel.panic_on_oops',
      'kernel.pid_max',
      'kernel.keys.root_maxkeys',
      'vm.overcommit_memory',
      'vm.panic_on_oom',
    ]) {
      expect(volatile.test(name), name).toBe(false);
    }
    expect(volatile.test('fs.file-nr')).toBe(true);
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
