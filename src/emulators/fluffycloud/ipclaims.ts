/**
 * Instance addresses in 127.1.0.0/16, unique on the machine: several emulators (parallel tests) may run at
 * once, so each address in use is claimed with an exclusively created file
 * `/run/skyhop-fluffycloud/claims/<ip>` naming its owner (data dir, instance id). A claim is taken over only
 * when it is stale: older than a few seconds, its owner's state no longer lists that instance as live, and
 * nothing listens on its address. An address where something listens is never handed out.
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect } from '../hosts.js';
import { RUN_ROOT } from './hosts.js';
import { statePath } from './state.js';

const CLAIMS = join(RUN_ROOT, 'claims');
const FIRST = 2; // 127.1.0.2
const LAST = 0xfffe; // 127.1.255.254
const STALE_AFTER_MS = 10_000;

export interface ClaimOwner {
  dataDir: string;
  id: string;
}

interface ClaimFile {
  data_dir: string;
  id: string;
  port: number;
}

export function ipOf(offset: number): string {
  return `127.1.${offset >> 8}.${offset & 255}`;
}

/** The offset after `o`, skipping .0 and .255 last octets and wrapping around. */
export function nextOffset(o: number): number {
  let n = o + 1;
  if (n > LAST) n = FIRST;
  while ((n & 255) === 0 || (n & 255) === 255) n++;
  return n;
}

function claimPath(ip: string): string {
  return join(CLAIMS, ip);
}

function readClaim(ip: string): ClaimFile | null {
  try {
    return JSON.parse(readFileSync(claimPath(ip), 'utf8')) as ClaimFile;
  } catch {
    return null;
  }
}

function ownerStillUses(c: ClaimFile): boolean {
  try {
    const s = JSON.parse(readFileSync(statePath(c.data_dir), 'utf8')) as {
      instances?: Record<string, { status?: string }>;
    };
    const inst = s.instances?.[c.id];
    return inst !== undefined && inst.status !== 'terminated';
  } catch {
    return false;
  }
}

async function isStale(ip: string): Promise<boolean> {
  let age: number;
  try {
    age = Date.now() - statSync(claimPath(ip)).mtimeMs;
  } catch {
    return true; // released meanwhile
  }
  if (age < STALE_AFTER_MS) return false;
  const c = readClaim(ip);
  if (c && ownerStillUses(c)) return false;
  return !(await canConnect(ip, c?.port ?? 2222, 200));
}

function tryCreate(ip: string, owner: ClaimOwner, port: number): boolean {
  try {
    writeFileSync(claimPath(ip), JSON.stringify({ data_dir: owner.dataDir, id: owner.id, port }), {
      flag: 'wx',
    });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Claim a free address, searching from offset `start`; null if all 65k are taken. */
export async function claimIp(
  start: number,
  port: number,
  owner: ClaimOwner,
): Promise<{ ip: string; offset: number } | null> {
  mkdirSync(CLAIMS, { recursive: true });
  let o = start < FIRST || start > LAST ? FIRST : start;
  if ((o & 255) === 0 || (o & 255) === 255) o = nextOffset(o);
  for (let tries = 0; tries < LAST; tries++, o = nextOffset(o)) {
    const ip = ipOf(o);
    let mine = tryCreate(ip, owner, port);
    if (!mine && (await isStale(ip))) {
      try {
        unlinkSync(claimPath(ip));
      } catch {
        // someone else took it over first
      }
      mine = tryCreate(ip, owner, port);
    }
    if (!mine) continue;
    if (await canConnect(ip, port, 200)) {
      // Something unknown (a host of a deleted data dir?) listens there: leave the address alone.
      releaseIp(ip, owner);
      continue;
    }
    return { ip, offset: o };
  }
  return null;
}

/** Make sure `ip` is claimed by `owner` (re-adopting instances after a restart); false if another owns it. */
export function ensureClaim(ip: string, port: number, owner: ClaimOwner): boolean {
  mkdirSync(CLAIMS, { recursive: true });
  if (tryCreate(ip, owner, port)) return true;
  const c = readClaim(ip);
  return c !== null && c.data_dir === owner.dataDir && c.id === owner.id;
}

/** Release `ip` if `owner` holds it. */
export function releaseIp(ip: string, owner: ClaimOwner): void {
  const c = readClaim(ip);
  if (c && c.data_dir === owner.dataDir && c.id === owner.id) {
    try {
      unlinkSync(claimPath(ip));
    } catch {
      // already gone
    }
  }
}
