/**
 * Buckets skyhop created or uses (`skyhop storage ls` / `skyhop storage delete`): `storage.ls()` and
 * `storage.delete(names | 'all')`. A bucket skyhop created is deleted with its objects; one it only
 * uses (a task's `source: s3://...`) is only forgotten. See src/storage for the rules.
 */
import { openStore, type Store } from '../state/index.js';
import {
  deleteStorage,
  listStorage,
  type StorageDeleteResult,
  type StorageRecord,
} from '../storage/index.js';
import type { SdkEvents } from './clusters.js';

export type { StorageDeleteResult, StorageRecord } from '../storage/index.js';

interface StoreOption {
  store?: Store;
}

export const storage = {
  /** Every bucket skyhop created or uses, with the clusters that use it, by name. */
  ls(o: StoreOption = {}): StorageRecord[] {
    return listStorage(o.store ?? openStore());
  },
  /**
   * Deletes the named buckets (or every one): created ones with their objects, used ones only
   * forgotten. Refused for a bucket a cluster still uses, and for unknown names.
   */
  delete(
    names: string[] | 'all',
    o: Pick<SdkEvents, 'onStep'> & StoreOption & { signal?: AbortSignal } = {},
  ): Promise<StorageDeleteResult[]> {
    return deleteStorage(o.store ?? openStore(), names, { onStep: o.onStep, signal: o.signal });
  },
};
