// Every way opening an archived clip can fail, each with its own message (docs/archive-format.md).

export type ArchiveFailure =
  /** The record's CID is not a CIDv1 raw sha2-256 (the only kind the relay stores). */
  | { kind: "bad-cid"; detail: string }
  /** The downloaded bytes do not hash to the CID: damaged in transit/storage or not this clip. */
  | { kind: "cid-mismatch" }
  /** Not an archive file of a version and parameters this code opens. */
  | { kind: "format"; detail: string }
  /** No WebCrypto here: the page is not a secure context (served over plain HTTP from a non-local host). */
  | { kind: "unsupported"; detail: string }
  /** The key did not unwrap: the secret is wrong (or the header was altered, which the CID rules out). */
  | { kind: "wrong-secret" }
  /** Chunk `chunk` failed authentication: altered, reordered, foreign, or data after the end. */
  | { kind: "tampered"; chunk: number; detail: string }
  /** The file ends before its final chunk; `chunks` were read. */
  | { kind: "truncated"; chunks: number };

export class ArchiveError extends Error {
  readonly failure: ArchiveFailure;

  constructor(failure: ArchiveFailure) {
    super(describeFailure(failure));
    this.name = "ArchiveError";
    this.failure = failure;
  }
}

export function isArchiveError(error: unknown): error is ArchiveError {
  return error instanceof ArchiveError;
}

/** One line for logs and tests; the UI uses archiveMessage() in player.ts. */
export function describeFailure(f: ArchiveFailure): string {
  switch (f.kind) {
    case "bad-cid":
      return `not a CIDv1 raw sha2-256 content ID: ${f.detail}`;
    case "cid-mismatch":
      return "the download's SHA-256 does not match its content ID";
    case "format":
      return `not an archive file this version can open: ${f.detail}`;
    case "unsupported":
      return `this browser cannot open archived copies here: ${f.detail}`;
    case "wrong-secret":
      return "wrong archive secret";
    case "tampered":
      return `chunk ${f.chunk} failed authentication${f.detail ? `: ${f.detail}` : ""}`;
    case "truncated":
      return `file is truncated: ${f.chunks} chunk(s) read and none of them is the final one`;
  }
}
