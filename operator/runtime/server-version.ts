// The oldest Kubernetes the operator's objects are valid on. The desired Deployment uses the native
// preStop `sleep` action (KEP-3960: alpha behind a feature gate in 1.29, beta and on by default in
// 1.30, GA in 1.34); an older API server drops the unknown `sleep` field or refuses the hook, so
// pods would get SIGTERM at once, before endpoints are updated. `sleep: {seconds: 0}` would need
// 1.33 (KEP-4818), which is why a propagation of 0 gets no hook at all (desired/deployment.ts).

const MINIMUM_KUBERNETES = { major: 1, minor: 30 } as const;

/** The fields of GET /version the check reads (k8s.io/apimachinery/pkg/version.Info). */
export interface VersionInfo {
  major?: string;
  minor?: string;
  gitVersion?: string;
}

/**
 * Undefined when the server is new enough (or says nothing parseable: a distribution that stamps
 * no version is given the benefit of the doubt); otherwise why the operator refuses to run.
 * `minor` may carry a suffix ("30+" on some managed clusters).
 */
export function serverVersionProblem(info: VersionInfo): string | undefined {
  const major = Number.parseInt(info.major ?? '', 10);
  const minor = Number.parseInt(info.minor ?? '', 10);
  if (!Number.isFinite(major) || !Number.isFinite(minor) || major === 0) return undefined;
  const { major: needMajor, minor: needMinor } = MINIMUM_KUBERNETES;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return (
    `Kubernetes ${info.gitVersion ?? `${major}.${minor}`} is not supported: lastcall needs ` +
    `${needMajor}.${needMinor} or later for the native preStop sleep action its Deployments use ` +
    '(beta and on by default since 1.30)'
  );
}
