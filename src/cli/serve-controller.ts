/** `skyhop serve-controller OP` (hidden): what the client runs on the serve controller's node (src/serve/rpc.ts). */
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({
  op: flags.arg(),
  args: flags.words(),
  replica: flags.str(),
  controller: flags.bool(),
  loadBalancer: flags.bool(),
  follow: flags.boolDefault(true),
});
export type ServeControllerOptions = OptionsOf<typeof parse>;

export default async function serveControllerCmd(o: ServeControllerOptions): Promise<number> {
  const { serveControllerOp } = await import('../serve/rpc.js');
  return serveControllerOp(o.op, o.args, {
    replica: o.replica === undefined ? undefined : Number(o.replica),
    controller: o.controller,
    loadBalancer: o.loadBalancer,
    follow: o.follow,
  });
}
