// The archived-copy player's states, the steps between them and the message for every failure.
// Order (docs/archive-format.md): presigned link → download → CID check → only then the secret →
// Argon2id → unwrap → chunks (in a Web Worker: opener.ts) → Blob URL. The secret is never stored, logged
// or sent over the network (it goes to the worker and nowhere else).
import { ApiError } from "../api/errors";
import type { ArchiveDownload, ArchivePublic } from "./api";
import { verifyCid } from "./cid";
import { ArchiveError, type ArchiveFailure } from "./errors";
import { DownloadError, fetchCiphertext, type FetchFn } from "./download";
import type { OpenedIn } from "./opener";

export type PlayFailure =
  | ArchiveFailure
  | { kind: "expired" }
  | { kind: "gone" }
  | { kind: "unreachable" }
  | { kind: "unconfigured" }
  | { kind: "error"; detail: string };

export type ArchiveView =
  | { kind: "checking" }
  | { kind: "none" }
  | { kind: "list-error"; error: unknown }
  | { kind: "available"; record: ArchivePublic }
  | { kind: "downloading"; record: ArchivePublic; received: number; total: number }
  | { kind: "verifying"; record: ArchivePublic }
  | { kind: "need-secret"; record: ArchivePublic; wrongSecret: boolean }
  | { kind: "deriving"; record: ArchivePublic }
  | { kind: "decrypting"; record: ArchivePublic; done: number; total: number }
  | { kind: "playing"; record: ArchivePublic; url: string; sha256: string; size: number; deriveMs: number; decryptMs: number;
      openedIn: OpenedIn }
  | { kind: "failed"; record: ArchivePublic | null; failure: PlayFailure };

export interface DownloadDeps {
  link: (cid: string) => Promise<ArchiveDownload>;
  fetch?: FetchFn;
  now?: () => number;
}

/** A fresh presigned link, the ciphertext and the CID check: the bytes are what the CID names, or it throws. */
export async function downloadVerified(record: ArchivePublic, deps: DownloadDeps,
                                       onProgress?: (received: number, total: number) => void,
                                       onVerifying?: () => void): Promise<Uint8Array<ArrayBuffer>> {
  const link = await deps.link(record.cid);
  if (link.cid !== record.cid) throw new ArchiveError({ kind: "cid-mismatch" });
  const bytes = await fetchCiphertext(link, { fetch: deps.fetch, now: deps.now, onProgress });
  onVerifying?.();
  await verifyCid(bytes, record.cid);
  return bytes;
}

/** Any error of the steps above as the failure the player shows. */
export function toFailure(error: unknown): PlayFailure {
  if (error instanceof ArchiveError) return error.failure;
  if (error instanceof DownloadError) {
    return error.kind === "error" ? { kind: "error", detail: error.message } : { kind: error.kind };
  }
  if (error instanceof ApiError) {
    if (error.status === 404) return { kind: "gone" };
    if (error.code === "archive_store_unconfigured") return { kind: "unconfigured" };
    if (error.status === 0) return { kind: "unreachable" };
    return { kind: "error", detail: error.message };
  }
  return { kind: "error", detail: error instanceof Error ? error.message : String(error) };
}

/** Whether the viewer can fix it by typing the secret again (the download is kept). */
export function canRetrySecret(failure: PlayFailure): boolean {
  return failure.kind === "wrong-secret";
}

export function archiveMessage(failure: PlayFailure): { title: string; body: string } {
  switch (failure.kind) {
    case "wrong-secret":
      return { title: "Wrong archive secret", body: "That secret does not open this clip. Check it (it is case-sensitive) and try again." };
    case "cid-mismatch":
      return {
        title: "The download is damaged or not this clip",
        body: "Its SHA-256 does not match the archive's content ID (CID), so it was not opened. Nothing was decrypted; try the download again.",
      };
    case "unsupported":
      return { title: "This browser cannot open archived copies here", body: `${failure.detail}. Open the site over HTTPS.` };
    case "bad-cid":
      return { title: "This archive record is not valid", body: `Its content ID cannot be checked (${failure.detail}).` };
    case "format":
      return { title: "Not an archive file this version can open", body: `The file matches its content ID but ${failure.detail}.` };
    case "tampered":
      return {
        title: "The archived copy was altered or is incomplete",
        body: `Chunk ${failure.chunk} failed authentication${failure.detail ? ` (${failure.detail})` : ""}. Nothing of it is shown.`,
      };
    case "truncated":
      return {
        title: "The archived copy was altered or is incomplete",
        body: `The file is truncated: it ends after chunk ${Math.max(0, failure.chunks - 1)} without its final chunk. Nothing of it is shown.`,
      };
    case "expired":
      return { title: "The download link expired", body: "Download links are short-lived. Start again to get a new one." };
    case "gone":
      return { title: "No archived copy", body: "The archived copy of this event is no longer in the store." };
    case "unreachable":
      return { title: "The archive store cannot be reached", body: "Check your connection and try again." };
    case "unconfigured":
      return { title: "Archive downloads are not available", body: "This service has no archive store configured. Contact support." };
    case "error":
      return { title: "The archived copy could not be opened", body: failure.detail };
  }
}

export function percent(done: number, total: number): number {
  return total > 0 ? Math.min(100, Math.round((done / total) * 100)) : 0;
}
