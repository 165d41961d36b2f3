/** The task YAML module: YAML -> validated Dag/Task/Resources (see types.ts). */
export { controllerResources } from './controller.js';
export type { KnownNames } from './known.js';
export { knownNamesFromClouds } from './known.js';
export type { CliOverrides } from './overrides.js';
export { applyOverrides } from './overrides.js';
export type { ParseOptions } from './options.js';
export { parseTaskFile, parseTaskText, taskFromCommand } from './parse.js';
export { resourcesToString } from './resources.js';
export {
  DEFAULT_RECOVERY_STRATEGY,
  parseJobRecovery,
  RECOVERY_STRATEGIES,
  recoveryToString,
} from './recovery.js';
export {
  checkServiceTask,
  isServiceIgnoredWarning,
  probeWithSecrets,
  SERVICE_DEFAULTS,
  serviceIgnoredWarning,
} from './service.js';
export { bucketNameProblem, checkStorageMounts } from './storage.js';
export type { StorageMode, StorageMount } from '../core/storage.js';
export type {
  AcceleratorDemand,
  Amount,
  Dag,
  DataEstimate,
  JobRecovery,
  RecoveryStrategy,
  Resources,
  Task,
} from '../core/task.js';
