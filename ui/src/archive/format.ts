// The archive file format v1 (docs/archive-format.md, agents/edge/archive/crypto.py): header layout and bounds.
import { ArchiveError } from "./errors";

export const MAGIC = [0x47, 0x52, 0x44, 0x41]; // "GRDA"
export const VERSION = 1;
export const KDF_ARGON2ID = 1;
export const HEADER_SIZE = 102;
export const WRAP_AAD_SIZE = 54;
export const TAG_SIZE = 16;
export const MIN_CHUNK_SIZE = 1 << 10;
export const MAX_CHUNK_SIZE = 1 << 24;
export const MAX_M_COST_KIB = 1 << 21;

export interface ArchiveHeader {
  /** Argon2id memory cost in KiB, passes and lanes. */
  mCostKib: number;
  tCost: number;
  parallelism: number;
  salt: Uint8Array<ArrayBuffer>;
  chunkSize: number;
  noncePrefix: Uint8Array<ArrayBuffer>;
  wrapNonce: Uint8Array<ArrayBuffer>;
  wrappedKey: Uint8Array<ArrayBuffer>;
  /** The exact 102 header bytes (every chunk's associated data starts with them). */
  raw: Uint8Array<ArrayBuffer>;
}

function formatError(detail: string): ArchiveError {
  return new ArchiveError({ kind: "format", detail });
}

/** Step 2: parse and bound-check the header (a hostile header must not make the browser allocate 4 GiB). */
export function parseHeader(file: Uint8Array): ArchiveHeader {
  if (file.length < HEADER_SIZE) throw formatError(`file too short for a header (${file.length} of ${HEADER_SIZE} bytes)`);
  const raw = file.slice(0, HEADER_SIZE);
  const view = new DataView(raw.buffer);
  if (!MAGIC.every((b, i) => raw[i] === b)) throw formatError("not a Guardian archive file (bad magic)");
  if (raw[4] !== VERSION) throw formatError(`unsupported archive format version ${raw[4]}`);
  if (raw[5] !== KDF_ARGON2ID) throw formatError(`unknown key derivation ${raw[5]}`);
  const mCostKib = view.getUint32(6);
  const tCost = view.getUint32(10);
  const parallelism = raw[14]!;
  const chunkSize = view.getUint32(31);
  if (parallelism < 1 || parallelism > 16) throw formatError(`argon2id parallelism ${parallelism} out of range 1..16`);
  if (mCostKib < 8 * parallelism || mCostKib > MAX_M_COST_KIB) throw formatError(`argon2id memory cost ${mCostKib} KiB out of range`);
  if (tCost < 1 || tCost > 64) throw formatError(`argon2id time cost ${tCost} out of range 1..64`);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw formatError(`chunk size ${chunkSize} out of range`);
  return {
    mCostKib, tCost, parallelism, chunkSize, raw,
    salt: raw.slice(15, 31),
    noncePrefix: raw.slice(35, 42),
    wrapNonce: raw.slice(42, 54),
    wrappedKey: raw.slice(54, 102),
  };
}

/** How many chunks a file of `size` bytes holds (the last one may be short). */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(0, Math.ceil((size - HEADER_SIZE) / (chunkSize + TAG_SIZE)));
}
