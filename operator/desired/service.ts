// The Service in front of a CounterService's pods: pure, for server-side apply.
import type { CounterService } from '../api/types.ts';
import { ownedMetadata, selectorLabels } from './labels.ts';

export function desiredService(cs: CounterService) {
  const svc = cs.spec.service ?? { type: 'ClusterIP', port: 80 };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(cs),
    spec: {
      type: svc.type,
      selector: selectorLabels(cs),
      ports: [
        {
          name: 'http',
          protocol: 'TCP',
          port: svc.port,
          targetPort: 'http',
          // Left out when unset: the API server allocates one, and since the operator does not own
          // the field, server-side apply keeps the allocation instead of fighting it.
          ...(svc.type === 'NodePort' && svc.nodePort !== undefined ? { nodePort: svc.nodePort } : {}),
        },
      ],
    },
  };
}
