import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { NodeSpec } from './topology.js';

/**
 * What tells a rotated password from the one a subscription was given, for a role that may not
 * read pg_subscription.subconninfo (only a superuser may; the comment's hash is of the masked
 * connection): a salted scrypt verifier of the password its connection carries, recorded in
 * steep's state schema on the subscriber (object_digests, at `subscription.NAME#password`) once
 * apply leaves the subscription settled. steep's state tables are readable only by their owner
 * and those granted them; the verifier is slow to test guesses against.
 */

/** The object_digests address of subscription `address`'s password verifier. */
export function passwordAddress(subscriptionAddress: string): string {
  return `${subscriptionAddress}#password`;
}

/** The password a subscription's connection to `publisher` carries (none with a passfile). */
export function connectionPassword(publisher: NodeSpec): string | undefined {
  if (publisher.replicationPassfile !== undefined) return undefined;
  return (publisher.replicationConnection ?? publisher.connection).password || undefined;
}

const KEY_BYTES = 32;

/** `scrypt:SALT:HASH` (hex) of `password`, with a fresh salt unless given. */
export function passwordVerifier(password: string, salt = randomBytes(16).toString('hex')): string {
  return `scrypt:${salt}:${scryptSync(password, salt, KEY_BYTES).toString('hex')}`;
}

/** Whether `verifier` is of `password`; undefined when it is not a verifier steep wrote. */
export function verifiesPassword(verifier: string, password: string): boolean | undefined {
  const m = /^scrypt:([0-9a-f]{32}):([0-9a-f]{64})$/.exec(verifier);
  if (!m) return undefined;
  return timingSafeEqual(Buffer.from(m[2]!, 'hex'), scryptSync(password, m[1]!, KEY_BYTES));
}
