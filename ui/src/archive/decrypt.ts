// Opening an archived clip in the browser (docs/archive-format.md, "Opening a file"): Argon2id in WASM
// (hash-wasm) for the key-encryption key, WebCrypto AES-256-GCM for the key unwrap and every chunk.
// Pure functions: bytes in, bytes out; no network, no storage. The secret is only ever an argument.
import { sha256, subtle, toHex } from "./cid";
import { ArchiveError } from "./errors";
import { HEADER_SIZE, TAG_SIZE, WRAP_AAD_SIZE, chunkCount, parseHeader, type ArchiveHeader } from "./format";

export interface Argon2Params {
  password: Uint8Array;
  salt: Uint8Array;
  parallelism: number;
  iterations: number;
  memorySize: number;
  hashLength: number;
  outputType: "binary";
}

/** hash-wasm's argon2id signature (injectable for tests and benchmarks). */
export type Argon2id = (params: Argon2Params) => Promise<Uint8Array>;

/** hash-wasm, loaded on first use (its WASM stays out of the main bundle). */
export const hashWasmArgon2id: Argon2id = async (params) => {
  const { argon2id } = await import("hash-wasm");
  return argon2id(params);
};

export type DecryptProgress =
  | { phase: "derive" }
  | { phase: "decrypt"; done: number; total: number };

export interface OpenOptions {
  argon2id?: Argon2id;
  onProgress?: (p: DecryptProgress) => void;
}

export interface Opened {
  /** The plaintext chunks, in order (an MP4); only returned once the final chunk has authenticated. */
  parts: Uint8Array<ArrayBuffer>[];
  size: number;
  /** Milliseconds spent in Argon2id and in the unwrap + chunk decryption. */
  deriveMs: number;
  decryptMs: number;
}

/** An archived clip opened to what the player plays: one buffer, with its SHA-256. */
export interface OpenedClip {
  /** The whole plaintext (an MP4), every chunk authenticated. */
  plain: Uint8Array<ArrayBuffer>;
  /** SHA-256 of `plain`, hex: the edge's digest of the clip, for checking that it is exactly the original. */
  sha256: string;
  deriveMs: number;
  decryptMs: number;
}

/** Step 3: Argon2id(secret as typed, UTF-8, no normalisation) with the header's salt and costs → 32 bytes. */
export async function deriveKek(secret: string, header: ArchiveHeader, argon2id: Argon2id = hashWasmArgon2id): Promise<Uint8Array<ArrayBuffer>> {
  if (secret.length === 0) throw new ArchiveError({ kind: "wrong-secret" });
  const kek = await argon2id({
    password: new TextEncoder().encode(secret), salt: header.salt, parallelism: header.parallelism,
    iterations: header.tCost, memorySize: header.mCostKib, hashLength: 32, outputType: "binary",
  });
  return new Uint8Array(kek);
}

/** Step 4: unwrap the data key; a rejection means a wrong secret. */
export async function unwrapDataKey(header: ArchiveHeader, kek: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const kekKey = await subtle().importKey("raw", kek, "AES-GCM", false, ["decrypt"]);
  let dataKey: ArrayBuffer;
  try {
    dataKey = await subtle().decrypt(
      { name: "AES-GCM", iv: header.wrapNonce, additionalData: header.raw.subarray(0, WRAP_AAD_SIZE), tagLength: 128 },
      kekKey, header.wrappedKey);
  } catch {
    throw new ArchiveError({ kind: "wrong-secret" });
  }
  return subtle().importKey("raw", dataKey, "AES-GCM", false, ["decrypt"]);
}

function tail(index: number, final: boolean): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(5);
  new DataView(bytes.buffer).setUint32(0, index);
  bytes[4] = final ? 1 : 0;
  return bytes;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function openChunk(key: CryptoKey, header: ArchiveHeader, data: Uint8Array<ArrayBuffer>, index: number,
                         final: boolean): Promise<Uint8Array<ArrayBuffer> | null> {
  const t = tail(index, final);
  try {
    return new Uint8Array(await subtle().decrypt(
      { name: "AES-GCM", iv: concat(header.noncePrefix, t), additionalData: concat(header.raw, t), tagLength: 128 },
      key, data));
  } catch {
    return null;
  }
}

/** Step 5: authenticate and decrypt every chunk; any failure names the chunk (and nothing is returned). */
export async function decryptChunks(file: Uint8Array<ArrayBuffer>, header: ArchiveHeader, key: CryptoKey,
                                    onProgress?: (p: DecryptProgress) => void): Promise<Uint8Array<ArrayBuffer>[]> {
  const block = header.chunkSize + TAG_SIZE;
  const total = chunkCount(file.length, header.chunkSize);
  if (total === 0) throw new ArchiveError({ kind: "truncated", chunks: 0 });
  if (total > 2 ** 32) throw new ArchiveError({ kind: "tampered", chunk: 2 ** 32, detail: "more chunks than the format allows" });
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < total; i += 1) {
    const start = HEADER_SIZE + i * block;
    const end = Math.min(start + block, file.length);
    const final = end === file.length;
    const data = file.subarray(start, end);
    if (data.length < TAG_SIZE) throw new ArchiveError({ kind: "truncated", chunks: i });
    const plain = await openChunk(key, header, data, i, final);
    if (plain === null) {
      // Tell a cut at a chunk boundary and appended data apart from an altered chunk (as the edge's reader does).
      if (final && (await openChunk(key, header, data, i, false)) !== null) {
        throw new ArchiveError({ kind: "truncated", chunks: i + 1 });
      }
      if (!final && (await openChunk(key, header, data, i, true)) !== null) {
        throw new ArchiveError({ kind: "tampered", chunk: i + 1, detail: "data after the final chunk" });
      }
      throw new ArchiveError({ kind: "tampered", chunk: i, detail: final ? "the last chunk is altered or cut short" : "" });
    }
    parts.push(plain);
    onProgress?.({ phase: "decrypt", done: i + 1, total });
  }
  return parts;
}

/** Steps 2–5 for a file whose CID was already checked: header, Argon2id, unwrap, chunks. */
export async function openArchive(file: Uint8Array<ArrayBuffer>, secret: string, options: OpenOptions = {}): Promise<Opened> {
  const header = parseHeader(file);
  options.onProgress?.({ phase: "derive" });
  const t0 = performance.now();
  const kek = await deriveKek(secret, header, options.argon2id);
  const t1 = performance.now();
  let key: CryptoKey;
  try {
    key = await unwrapDataKey(header, kek);
  } finally {
    kek.fill(0);
  }
  const parts = await decryptChunks(file, header, key, options.onProgress);
  const size = parts.reduce((n, p) => n + p.length, 0);
  return { parts, size, deriveMs: t1 - t0, decryptMs: performance.now() - t1 };
}

/** openArchive, then the chunks joined into one buffer and hashed. */
export async function openClip(file: Uint8Array<ArrayBuffer>, secret: string, options: OpenOptions = {}): Promise<OpenedClip> {
  const opened = await openArchive(file, secret, options);
  const plain = new Uint8Array(opened.size);
  let offset = 0;
  for (const part of opened.parts) {
    plain.set(part, offset);
    offset += part.length;
  }
  return { plain, sha256: toHex(await sha256(plain)), deriveMs: opened.deriveMs, decryptMs: opened.decryptMs };
}
