/** OpenSSH public keys: validation and the SHA256 fingerprint `ssh-keygen -l` shows. */
import { createHash } from 'node:crypto';
import { badRequest } from './errors.js';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Validate a one-line OpenSSH public key; returns it normalised (`type base64 [comment]`) and its fingerprint. */
export function parsePublicKey(text: string): { publicKey: string; fingerprint: string } {
  const line = text.trim();
  if (line.includes('\n')) throw badRequest('public_key must be one line (`ssh-ed25519 AAAA... comment`)');
  const [type, b64, ...comment] = line.split(/\s+/);
  if (!type || !KEY_TYPES.has(type) || !b64) {
    throw badRequest(
      `public_key is not an OpenSSH public key (expected "<type> <base64> [comment]", type one of ${[...KEY_TYPES].join(', ')})`,
    );
  }
  const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  const nameLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLen < 0 || blob.length < 4 + nameLen || blob.subarray(4, 4 + nameLen).toString() !== type) {
    throw badRequest(`public_key: the base64 part is not a ${type} key`);
  }
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { publicKey: [type, b64, ...comment].join(' '), fingerprint };
}
