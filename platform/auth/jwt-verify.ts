import { KeyObject, verify as cryptoVerify } from 'node:crypto';
import { UnsecuredJWT, decodeProtectedHeader, errors } from 'jose';
import type { JWTClaimVerificationOptions, JWTPayload, ProtectedHeaderParameters } from 'jose';

/**
 * `jwtVerify` of jose with the signature checked synchronously by node:crypto. jose runs every
 * verification through WebCrypto, whose job and promise cost about as much again as the signature
 * (0.16-0.18 against 0.10 ms of CPU per ES256 token, `npx tsx bench/token-verify.ts`): a subgraph
 * pays it for every service token it has not seen (one per caller and gateway every 30 s), the
 * gateway for every user token, so a first visit pays it at each. jose still does the rest: the
 * header's decoding, the key's choice from a JWKS, and every claim check (`UnsecuredJWT.decode`
 * over the same payload runs jose's claim validation; its `alg: none` header is ours, never the
 * token's). The signer's side is `signJwt` in service-token.ts.
 */
export interface JwtVerifyOptions extends JWTClaimVerificationOptions {
  /** The algorithms this issuer may use: a token never picks its own (no `none`, no HS256). */
  algorithms: string[];
}

/** A JWKS as jose resolves it (createLocalJWKSet / createRemoteJWKSet), or a fixed key. */
export type KeyResolver = (header: ProtectedHeaderParameters) => Promise<KeyObject | CryptoKey> | KeyObject | CryptoKey;

interface NodeAlgorithm {
  digest: string | null;
  keyType: string;
  check?: (key: KeyObject) => boolean;
  dsaEncoding?: 'ieee-p1363';
}

/** RFC 7518 §3: the algorithms our issuers use, as node:crypto names them; any other is refused. */
const ALGORITHMS = new Map<string, NodeAlgorithm>(
  Object.entries({
    ES256: {
      digest: 'sha256',
      keyType: 'ec',
      check: (key) => key.asymmetricKeyDetails?.namedCurve === 'prime256v1',
      dsaEncoding: 'ieee-p1363',
    },
    RS256: { digest: 'sha256', keyType: 'rsa', check: (key) => (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 },
    EdDSA: { digest: null, keyType: 'ed25519' },
  } satisfies Record<string, NodeAlgorithm>),
);

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');
/** jose hands out the same CryptoKey per JWK, so each is converted once. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

const asKeyObject = (key: KeyObject | CryptoKey): KeyObject => {
  if (key instanceof KeyObject) return key;
  let converted = keyObjects.get(key);
  if (!converted) keyObjects.set(key, (converted = KeyObject.from(key)));
  return converted;
};

/** A compact JWS JWT whose signature, algorithm and claims all pass: its payload and header (as jose's jwtVerify); throws otherwise (jose's errors). */
export async function verifyJwt(
  token: string,
  resolveKey: KeyResolver,
  options: JwtVerifyOptions,
): Promise<{ payload: JWTPayload; protectedHeader: ProtectedHeaderParameters }> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => part && BASE64URL.test(part))) throw new errors.JWSInvalid('Invalid Compact JWS');
  const header = decodeProtectedHeader(token);
  // `crit` names extensions this verifier does not implement (among them `b64: false`): refuse, as jose does.
  if ('crit' in header || 'b64' in header) throw new errors.JWSInvalid('Unsupported JWS header parameter');
  const alg = header.alg ?? '';
  const algorithm = ALGORITHMS.get(alg);
  if (!algorithm || !options.algorithms.includes(alg))
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  const key = asKeyObject(await resolveKey(header));
  if (key.type === 'secret' || key.asymmetricKeyType !== algorithm.keyType || (algorithm.check && !algorithm.check(key)))
    throw new TypeError(`The key does not fit ${alg}`);
  const verified = cryptoVerify(
    algorithm.digest,
    Buffer.from(`${parts[0]}.${parts[1]}`),
    algorithm.dsaEncoding ? { key, dsaEncoding: algorithm.dsaEncoding } : key,
    Buffer.from(parts[2]!, 'base64url'),
  );
  if (!verified) throw new errors.JWSSignatureVerificationFailed();
  return { payload: UnsecuredJWT.decode(`${NONE_HEADER}.${parts[1]}.`, options).payload, protectedHeader: header };
}
