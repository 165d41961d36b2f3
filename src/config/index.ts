/** The config file ($SKYHOP_HOME/config.yaml, SKYHOP_CONFIG) and a task's `config:` (see config.ts). */
export { configPath, effectiveConfig, launchSpec, loadConfig, type SkyhopConfig } from './config.js';
export { parseConfigText, parseTaskConfig } from './parse.js';
