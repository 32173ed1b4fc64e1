// Camera credentials are sealed in the browser to the device's own X25519 config key (libsodium
// crypto_box_seal, as guardian.edge.v1.SealedSecret says): the cloud and the relay only ever hold the
// ciphertext, and only the edge holding the private key can open it.
//
// libsodium is loaded on first use (its WebAssembly is ~300 kB), so pages that never seal don't pay for it.
import type { ConfigKey, SealedCredentials } from "../api/deviceConfig";

/** X25519 public keys are 32 bytes (crypto_box_PUBLICKEYBYTES). */
const PUBLIC_KEY_BYTES = 32;

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

type Sodium = typeof import("libsodium-wrappers").default;

let loading: Promise<Sodium> | null = null;

/** libsodium, ready to use (loaded once, shared by every caller). */
export function sodium(): Promise<Sodium> {
  loading ??= import("libsodium-wrappers").then(async ({ default: lib }) => {
    await lib.ready;
    return lib;
  });
  loading.catch(() => {
    loading = null; // e.g. the chunk could not be fetched: try again next time
  });
  return loading;
}

/**
 * Seal "username:password" to `key` (the device's config key from GET /devices/{id}/config). Returns what
 * the API takes: the sealed box in unpadded base64url and the key's id. The user name cannot hold ":",
 * the separator the edge splits on (as in a URL's user information).
 */
export async function sealCredentials(username: string, password: string, key: ConfigKey): Promise<SealedCredentials> {
  if (username.includes(":")) throw new SealError("a user name cannot contain “:”");
  return sealSecret(`${username}:${password}`, key);
}

/**
 * Seal a secret alone (the MQTT broker's password) to `key`, as camera credentials are sealed: only the
 * edge can open it, the cloud and relay hold the ciphertext.
 */
export async function sealSecret(secret: string, key: ConfigKey): Promise<SealedCredentials> {
  const lib = await sodium();
  const variant = lib.base64_variants.URLSAFE_NO_PADDING;
  let publicKey: Uint8Array;
  try {
    publicKey = lib.from_base64(key.public_key, variant);
  } catch {
    throw new SealError("the device's config key is not valid base64url");
  }
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new SealError("the device's config key is not an X25519 public key");
  const sealed = lib.crypto_box_seal(new TextEncoder().encode(secret), publicKey);
  return { ciphertext: lib.to_base64(sealed, variant), key_id: key.key_id };
}
