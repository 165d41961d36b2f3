/** The config file ($SKYHOP_HOME/config.yaml, SKYHOP_CONFIG) and a task's `config:` (see config.ts). */
export {
  configPath,
  effectiveConfig,
  launchSpec,
  loadConfig,
  parseConfigText,
  parseTaskConfig,
  type SkyhopConfig,
} from './config.js';
