/**
 * The commands that run on a team server when one is configured (the first word of the command line):
 * the CLI sends them (`cli/main.ts`), the server accepts only them (`server/requests.ts`). No imports:
 * the CLI reads it at start-up.
 */
export const REMOTE_COMMANDS: ReadonlySet<string> = new Set([
  'launch',
  'exec',
  'status',
  'queue',
  'logs',
  'cancel',
  'stop',
  'start',
  'down',
  'autostop',
  'cost-report',
  'check',
  'show-gpus',
  'optimize',
  'jobs',
  'serve',
  'storage',
  'catalog',
]);
