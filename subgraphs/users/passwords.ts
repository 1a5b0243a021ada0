import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

/**
 * Password hashing with Node's built-in scrypt (no native add-on to build). Hashes are stored
 * self-describing, `scrypt$N$r$p$saltB64$hashB64`, so the cost can be raised later without
 * breaking the hashes already stored: each is verified with the parameters it was made with.
 */
const COST = { N: 16_384, r: 8, p: 1 } as const;
const KEY_LENGTH = 64;
const SALT_BYTES = 16;
/** A stored hash may ask for at most this much work (a corrupted row must not pin the CPU). */
const MAX_N = 1 << 20;

function derive(password: string, salt: Buffer, keyLength: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; the default 32 MiB cap would reject costs above N=2^17.
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
  // NFC: the same password typed on different keyboards / OSes may arrive composed or decomposed.
  const input = password.normalize('NFC');
  return new Promise((resolve, reject) => scrypt(input, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_LENGTH, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  const sane =
    Number.isInteger(N) &&
    N > 1 &&
    N <= MAX_N &&
    (N & (N - 1)) === 0 &&
    Number.isInteger(r) &&
    r >= 1 &&
    r <= 32 &&
    Number.isInteger(p) &&
    p >= 1 &&
    p <= 16 &&
    salt.length >= 8 &&
    hash.length >= 16;
  return sane ? { N, r, p, salt, hash } : null;
}

/** True when password matches stored; false for a wrong password or an unreadable stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/**
 * A hash of a random password nobody knows, with the current cost: logIn verifies against it when
 * the email is unknown, so "no such user" takes as long as "wrong password".
 */
export const DUMMY_PASSWORD_HASH =
  'scrypt$16384$8$1$IYHOIe6x0ac/+cGVPO4TrQ==$22RIqmmf+ZHb022pa9Y4vYyI4f7aJ3ocirl3baNLTyzNe1+moghveysXjCpM8JPAx2v2Xk8BF09KXZ2mk6eMSA==';
