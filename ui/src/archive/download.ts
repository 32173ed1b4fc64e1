// Fetching the ciphertext from the store's presigned URL, with progress. No cookies, no referrer: the
// store learns nothing but the (already signed) URL.
import { ArchiveError } from "./errors";
import type { ArchiveDownload } from "./api";

export type DownloadFailureKind = "expired" | "gone" | "unreachable" | "error";

export class DownloadError extends Error {
  readonly kind: DownloadFailureKind;
  readonly status: number | null;

  constructor(kind: DownloadFailureKind, status: number | null, message: string) {
    super(message);
    this.name = "DownloadError";
    this.kind = kind;
    this.status = status;
  }
}

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface FetchOptions {
  fetch?: FetchFn;
  onProgress?: (received: number, total: number) => void;
  signal?: AbortSignal;
  /** The clock (ms since the epoch), to tell an expired link from an unreachable store. */
  now?: () => number;
}

function failure(link: ArchiveDownload, status: number | null, now: number): DownloadError {
  const expired = Date.parse(link.expires_at) <= now;
  if (status === 403 || (status === null && expired)) {
    // S3 answers an expired (or otherwise refused) signature with 403 — without CORS headers, so the
    // browser may only see a network error: the link's own expiry time tells which it was.
    return new DownloadError("expired", status, "the download link expired or was refused");
  }
  if (status === 404) return new DownloadError("gone", status, "the archived object is not in the store");
  if (status === null) return new DownloadError("unreachable", null, "the archive store could not be reached");
  return new DownloadError("error", status, `the archive store answered ${status}`);
}

/** The ciphertext behind a presigned link, reported as it arrives; more bytes than the record says is a mismatch. */
export async function fetchCiphertext(link: ArchiveDownload, options: FetchOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = options.now ?? Date.now;
  let response: Response;
  try {
    response = await fetchFn(link.url, {
      method: "GET", mode: "cors", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
      signal: options.signal ?? null,
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw failure(link, null, now());
  }
  if (!response.ok) throw failure(link, response.status, now());
  const total = link.size;
  let buffer = new Uint8Array(total);
  let received = 0;
  options.onProgress?.(0, total);
  const add = (chunk: Uint8Array) => {
    if (received + chunk.length > total) throw new ArchiveError({ kind: "cid-mismatch" });
    buffer.set(chunk, received);
    received += chunk.length;
    options.onProgress?.(received, total);
  };
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        add(value);
      }
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      if (error instanceof ArchiveError || (error instanceof DOMException && error.name === "AbortError")) throw error;
      throw failure(link, null, now());
    }
  } else {
    add(new Uint8Array(await response.arrayBuffer()));
  }
  if (received !== total) buffer = buffer.slice(0, received); // short: the CID check will say so
  return buffer;
}
