// Content IDs of archived clips: CIDv1, codec raw (0x55), multihash sha2-256 (0x12, 32 bytes).
// The relay names every stored object by the CID of its bytes; the browser checks the download
// against it before asking for the secret.
import { CID } from "multiformats/cid";
import { ArchiveError } from "./errors";

export const RAW_CODEC = 0x55;
export const SHA2_256 = 0x12;

/** The SHA-256 digest a CID names; throws ArchiveError("bad-cid") for any other kind of CID. */
export function cidDigest(cid: string): Uint8Array {
  let parsed: CID;
  try {
    parsed = CID.parse(cid.trim());
  } catch (error) {
    throw new ArchiveError({ kind: "bad-cid", detail: error instanceof Error ? error.message : String(error) });
  }
  if (parsed.version !== 1) throw new ArchiveError({ kind: "bad-cid", detail: `CID version ${parsed.version}` });
  if (parsed.code !== RAW_CODEC) throw new ArchiveError({ kind: "bad-cid", detail: `codec 0x${parsed.code.toString(16)}` });
  if (parsed.multihash.code !== SHA2_256 || parsed.multihash.size !== 32) {
    throw new ArchiveError({ kind: "bad-cid", detail: `multihash 0x${parsed.multihash.code.toString(16)}` });
  }
  return parsed.multihash.digest;
}

/** WebCrypto, which browsers only offer to secure contexts (HTTPS, or http://localhost). */
export function subtle(): SubtleCrypto {
  const api = globalThis.crypto?.subtle;
  if (!api) throw new ArchiveError({ kind: "unsupported", detail: "WebCrypto is only available on pages served over HTTPS" });
  return api;
}

export async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Step 1 of opening a file: its SHA-256 must be the CID's digest, or ArchiveError("cid-mismatch"). */
export async function verifyCid(bytes: Uint8Array<ArrayBuffer>, cid: string): Promise<void> {
  const expected = cidDigest(cid);
  if (!equal(await sha256(bytes), expected)) throw new ArchiveError({ kind: "cid-mismatch" });
}
