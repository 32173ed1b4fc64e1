// What the page and the archive opener's Web Worker (open.worker.ts) say to each other. The page sends
// one request: the download (its CID already checked) and the secret. The worker answers with progress,
// then with the plaintext (transferred, not copied) or with the failure. An ArchiveError crosses as its
// failure (data) and is an ArchiveError again on the page, so the player's messages do not change.
import { openClip, type Argon2id, type DecryptProgress, type OpenedClip } from "./decrypt";
import { ArchiveError, type ArchiveFailure } from "./errors";

export interface OpenRequest {
  file: Uint8Array<ArrayBuffer>;
  secret: string;
}

export type OpenReply =
  | { type: "progress"; progress: DecryptProgress }
  | { type: "opened"; clip: OpenedClip }
  /** `failure` when it was an ArchiveError (wrong secret, tampered chunk, …); else only the message. */
  | { type: "failed"; failure: ArchiveFailure | null; message: string };

export type Reply = (message: OpenReply, transfer?: Transferable[]) => void;

/** The worker's side: open the file and answer; every error becomes a "failed" reply. */
export async function answerOpenRequest(request: OpenRequest, reply: Reply, argon2id?: Argon2id): Promise<void> {
  let clip: OpenedClip;
  try {
    clip = await openClip(request.file, request.secret, {
      argon2id,
      onProgress: (progress) => reply({ type: "progress", progress }),
    });
  } catch (error) {
    reply({
      type: "failed",
      failure: error instanceof ArchiveError ? error.failure : null,
      message: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  reply({ type: "opened", clip }, [clip.plain.buffer]);
}

/** The page's side of a "failed" reply: the error opening on the page would have thrown. */
export function replyError(reply: Extract<OpenReply, { type: "failed" }>): Error {
  return reply.failure ? new ArchiveError(reply.failure) : new Error(reply.message);
}
