/**
 * The end of a launch whose cluster tears itself down at once (`autodown` after 0 idle minutes,
 * e.g. `skyhop launch --down`): the agent's autodown would do it too; doing it here means launch
 * returns with the cluster gone. Any other autostop is left to the agent's idle timer.
 */
import type { Store } from '../state/index.js';
import type { SdkEvents } from './clusters.js';

/** Tears the cluster down when its recorded autostop is autodown after 0 minutes; true when it is gone. */
export async function teardownIfAutodownNow(
  store: Store,
  cluster: string,
  ev: SdkEvents = {},
): Promise<boolean> {
  const rec = store.getCluster(cluster);
  if (!rec) return true; // its autodown has already torn it down
  const a = rec.autostop;
  if (!a?.down || a.idleMinutes !== 0) return false;
  const { down } = await import('./lifecycle.js');
  await down(store, cluster, { onStep: ev.onStep }).catch((e) => {
    if (store.getCluster(cluster)) throw e; // the agent won the race: the cluster is gone either way
  });
  return true;
}
