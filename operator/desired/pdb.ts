// The PodDisruptionBudget of a CounterService: pure, for server-side apply.
//
// A PDB guards evictions (kubectl drain, the cluster autoscaler, node upgrades), not rolling updates
// or plain deletes: the rollout's safety comes from maxSurge/maxUnavailable and the grace period.
// We always use maxUnavailable: 1, never minAvailable:
//  - 1 replica: minAvailable: 1 would refuse every eviction, so a node drain would hang forever on
//    this pod and block cluster maintenance. maxUnavailable: 1 lets the drain evict it; the eviction
//    deletes the pod with its grace period, so the preStop sleep and the drain still protect
//    in-flight work (a short gap in capacity, no lost increments).
//  - N replicas: at most one pod is evicted at a time, so N-1 keep serving through a node drain.
//  - It tracks `kubectl scale` and an HPA without being rewritten (a number of unavailable pods does
//    not depend on the replica count, unlike minAvailable).
// unhealthyPodEvictionPolicy AlwaysAllow: pods that are not ready (crash-looping, stuck) serve
// nothing, so evicting them must not be blocked by the budget (GA in Kubernetes 1.31).
import type { CounterService } from '../api/types.ts';
import { ownedMetadata, selectorLabels } from './labels.ts';

export function desiredPodDisruptionBudget(cs: CounterService) {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMetadata(cs),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(cs) },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
