import type { KubeClient } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { coreTypes, resourcePath } from './resources.ts';

/**
 * Creates namespace `name` unless it exists: one POST, and 409 AlreadyExists means it was there
 * (no read-then-create race between two runs). Labels are set only on a namespace it creates.
 */
export async function ensureNamespace(
  client: KubeClient,
  name: string,
  labels: Record<string, string> = {},
): Promise<'created' | 'existed'> {
  try {
    await client.request('POST', resourcePath(coreTypes.namespace), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
    });
    return 'created';
  } catch (err) {
    if (isConflict(err)) return 'existed';
    throw err;
  }
}

/**
 * Deletes namespace `name` and, through the namespace controller, everything in it; returns at
 * once (the namespace stays Terminating until it is empty). False when it did not exist.
 */
export async function deleteNamespace(client: KubeClient, name: string): Promise<boolean> {
  try {
    await client.request('DELETE', resourcePath(coreTypes.namespace, { name }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
