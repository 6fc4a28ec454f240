import crypto from 'node:crypto';

/**
 * SHA-256 of a text (UTF-8), in hex: table fingerprints and the plan's digests. `crypto.hash`
 * (Node.js 20.12+) is one call and faster than a Hash object for short texts (a plan of
 * 10 nodes × 500 tables hashes thousands of them); older Node.js 20 builds a Hash.
 */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
