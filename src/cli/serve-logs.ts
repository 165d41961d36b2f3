/** `skyhop serve logs NAME [REPLICA_ID | --controller | --load-balancer]`: followed until Ctrl-C. */
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import { interruptSignal } from './ui.js';

export const parse = options({
  serviceName: flags.arg(),
  replicaId: flags.str(),
  controller: flags.bool(),
  loadBalancer: flags.bool(),
  follow: flags.boolDefault(true),
});
export type ServeLogsOptions = OptionsOf<typeof parse>;

export default async function serveLogsCmd(o: ServeLogsOptions): Promise<number> {
  const picked = [o.replicaId !== undefined, o.controller === true, o.loadBalancer === true].filter(
    Boolean,
  ).length;
  if (picked !== 1) throw new UserError('give one of: a REPLICA_ID, --controller, --load-balancer');
  let replica: number | undefined;
  if (o.replicaId !== undefined) {
    replica = Number(o.replicaId);
    if (!/^\d+$/.test(o.replicaId) || replica < 1)
      throw new UserError(`'${o.replicaId}' is not a replica id (1, 2, ...)`);
  }
  const { serveLogs } = await import('../sdk/serve.js');
  const intr = interruptSignal();
  try {
    await serveLogs({
      name: o.serviceName,
      replica,
      controller: o.controller,
      loadBalancer: o.loadBalancer,
      follow: o.follow,
      onOutput: (c) => process.stdout.write(c),
      signal: intr.signal,
    });
    return 0;
  } catch (e) {
    if (intr.signal.aborted) return 130;
    throw e;
  } finally {
    intr.dispose();
  }
}
