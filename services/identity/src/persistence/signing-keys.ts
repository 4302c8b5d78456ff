import type { Database, Queryable } from '@bazaar/chassis';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';

/** The algorithm identity signs access tokens with; the chassis pins verifiers to it. */
export const SIGNING_ALGORITHM = 'EdDSA';

/** A public signing key as published in the JWKS. Only these members, never `d`. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKeyStoreOptions {
  /** How long a rotated-out key stays published: the longest access-token lifetime plus a margin. */
  retireAfterSeconds: number;
  /** How long loaded keys are trusted before the table is read again (picks up other replicas' rotations). */
  cacheMs?: number;
}

interface LoadedKeys {
  signing: { kid: string; key: CryptoKey } | undefined;
  jwks: { keys: PublicJwk[] };
  resolve: JWTVerifyGetKey;
  loadedAt: number;
}

/** Serializes key creation and rotation across replicas (pg_advisory_xact_lock). */
const KEY_LOCK = 7_241_101;

/**
 * The Ed25519 keys access tokens are signed with, persisted in `signing_keys`.
 * Exactly one key is active (signs); rotated-out keys stay published until every
 * token they signed has expired. Private keys stay in this class and the table:
 * nothing here returns or logs them.
 */
export class SigningKeyStore {
  readonly #db: Database;
  readonly #retireAfterSeconds: number;
  readonly #cacheMs: number;
  #loading: Promise<LoadedKeys> | undefined;
  #reloading: Promise<LoadedKeys> | undefined;
  readonly #privateKeys = new Map<string, CryptoKey>();

  constructor(db: Database, options: SigningKeyStoreOptions) {
    this.#db = db;
    this.#retireAfterSeconds = options.retireAfterSeconds;
    this.#cacheMs = options.cacheMs ?? 30_000;
  }

  /** Creates the first key unless an active one exists. Safe when replicas start together. */
  async ensureActiveKey(): Promise<void> {
    const created = await this.#db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
      const { rowCount } = await tx.query('SELECT 1 FROM signing_keys WHERE retired_at IS NULL');
      if (rowCount) return false;
      await insertKey(tx, await newKeyPair());
      return true;
    });
    if (created) this.#loading = undefined;
  }

  /** Makes a new key the signing key; the previous one stays published until `retireAfterSeconds` have passed. */
  async rotate(): Promise<{ kid: string; createdAt: Date }> {
    const pair = await newKeyPair();
    const createdAt = await this.#db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
      await tx.query(`UPDATE signing_keys SET retired_at = now() + make_interval(secs => $1) WHERE retired_at IS NULL`, [this.#retireAfterSeconds]);
      // Keys whose tokens expired long ago are of no further use; drop their private halves with them.
      await tx.query(`DELETE FROM signing_keys WHERE retired_at < now() - interval '1 day'`);
      return insertKey(tx, pair);
    });
    this.#loading = undefined;
    return { kid: pair.kid, createdAt };
  }

  /** The key new tokens are signed with, creating one if the table has none. */
  async signingKey(): Promise<{ kid: string; key: CryptoKey }> {
    let keys = await this.#keys();
    if (!keys.signing) {
      await this.ensureActiveKey();
      keys = await this.#keys(true);
    }
    if (!keys.signing) throw new Error('no active signing key after creating one');
    return keys.signing;
  }

  /** The published keys: the active one and those rotated out but not yet retired. */
  async publicJwks(): Promise<{ keys: PublicJwk[] }> {
    return (await this.#keys()).jwks;
  }

  /**
   * A jose key resolver over the published keys, for verifying this service's own
   * tokens without calling itself over HTTP. An unknown `kid` reloads the keys
   * (another replica may just have rotated) before the token is refused; concurrent
   * unknown kids share one reload, so a flood of made-up kids costs at most one
   * query in flight.
   */
  readonly verificationKey: JWTVerifyGetKey = async (header, token) => {
    const keys = await this.#keys();
    try {
      return await keys.resolve(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      return (await this.#reloadShared()).resolve(header, token);
    }
  };

  #reloadShared(): Promise<LoadedKeys> {
    if (!this.#reloading) {
      const reloading = this.#keys(true).finally(() => {
        if (this.#reloading === reloading) this.#reloading = undefined;
      });
      this.#reloading = reloading;
    }
    return this.#reloading;
  }

  async #keys(reload = false): Promise<LoadedKeys> {
    const current = this.#loading;
    if (!reload && current) {
      const keys = await current;
      if (Date.now() - keys.loadedAt < this.#cacheMs) return keys;
      // Stale: reload, unless a concurrent caller already started that.
      if (this.#loading !== current && this.#loading) return this.#loading;
    }
    const loading = this.#load();
    this.#loading = loading;
    loading.catch(() => {
      if (this.#loading === loading) this.#loading = undefined;
    });
    return loading;
  }

  async #load(): Promise<LoadedKeys> {
    const loadedAt = Date.now();
    const { rows } = await this.#db.query<{ kid: string; public_jwk: JWK; private_jwk: JWK | null; active: boolean }>(
      `SELECT kid, public_jwk, CASE WHEN retired_at IS NULL THEN private_jwk END AS private_jwk, retired_at IS NULL AS active
         FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > now()
        ORDER BY created_at DESC`,
    );
    const keys = rows.map((row) => publicMembers(row.public_jwk, row.kid));
    let signing: LoadedKeys['signing'];
    const active = rows.find((row) => row.active);
    if (active?.private_jwk) {
      let key = this.#privateKeys.get(active.kid);
      if (!key) {
        key = (await importJWK(active.private_jwk, SIGNING_ALGORITHM)) as CryptoKey;
        this.#privateKeys.clear();
        this.#privateKeys.set(active.kid, key);
      }
      signing = { kid: active.kid, key };
    }
    return { signing, jwks: { keys }, resolve: createLocalJWKSet({ keys }), loadedAt };
  }
}

interface KeyPair {
  kid: string;
  publicJwk: PublicJwk;
  privateJwk: JWK;
}

async function newKeyPair(): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: 'Ed25519', extractable: true });
  const exportedPublic = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exportedPublic, 'sha256');
  const publicJwk = publicMembers(exportedPublic, kid);
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' };
  return { kid, publicJwk, privateJwk };
}

async function insertKey(tx: Queryable, pair: KeyPair): Promise<Date> {
  const { rows } = await tx.query<{ created_at: Date }>(
    'INSERT INTO signing_keys (kid, public_jwk, private_jwk) VALUES ($1, $2, $3) RETURNING created_at',
    [pair.kid, JSON.stringify(pair.publicJwk), JSON.stringify(pair.privateJwk)],
  );
  return rows[0]!.created_at;
}

/** Copies only the public members of an Ed25519 JWK: whatever else a row holds cannot leak. */
function publicMembers(jwk: JWK, kid: string): PublicJwk {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error(`signing key ${kid} is not an Ed25519 public key`);
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: SIGNING_ALGORITHM, use: 'sig' };
}
