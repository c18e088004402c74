// The objects a CounterService owns, as plain JSON ready for server-side apply.
export {
  BUDGET_ANNOTATION,
  BUDGET_IN_FORCE_ANNOTATION,
  budgetInForce,
  CONTAINER_NAME,
  CONTAINER_PORT,
  desiredDeployment,
  workloadEnv,
} from './deployment.ts';
export {
  COUNTER_SERVICE_LABEL,
  controllerRef,
  OWNED_SELECTOR,
  ownedLabels,
  selectorLabels,
  selectorString,
} from './labels.ts';
export { desiredPodDisruptionBudget } from './pdb.ts';
export { desiredService } from './service.ts';
