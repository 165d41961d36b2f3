/** The config file ($SKYHOP_HOME/config.yaml, SKYHOP_CONFIG) and a task's `config:` (see config.ts). */
export {
  configPath,
  effectiveConfig,
  JOBS_CONTROLLER_AUTOSTOP,
  JOBS_POLL_INTERVAL_SECONDS,
  type JobsControllerConfig,
  launchSpec,
  loadConfig,
  type SkyhopConfig,
} from './config.js';
export { parseConfigText, parseTaskConfig } from './parse.js';
