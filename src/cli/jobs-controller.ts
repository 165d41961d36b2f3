/** `skyhop jobs-controller OP` (hidden): what the client runs on the jobs controller's node (src/jobs/rpc.ts). */
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({
  op: flags.arg(),
  args: flags.words(),
  controller: flags.bool(),
  follow: flags.boolDefault(true),
});
export type JobsControllerOptions = OptionsOf<typeof parse>;

export default async function jobsControllerCmd(o: JobsControllerOptions): Promise<number> {
  const { controllerOp } = await import('../jobs/rpc.js');
  return controllerOp(o.op, o.args, { controller: o.controller, follow: o.follow });
}
