import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useServices } from "../context";
import { Loading } from "../components/Feedback";
import { useNow } from "../hooks";
import { formatDateTime } from "../state/format";
import { archivesApi } from "./api";
import { openArchivedClip, type OpenClipOptions } from "./opener";
import { archiveMessage, canRetrySecret, downloadVerified, percent, toFailure, type ArchiveView } from "./player";

const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/**
 * "Play archived copy": the off-site, end-to-end encrypted copy of the event's clip. Fetched from the
 * store, checked against its CID, then opened in this tab with the archive secret the viewer types.
 * The secret lives only in the password field until it is read; it is never stored or sent. Key
 * derivation and decryption run in a Web Worker (opener.ts): the page shows their progress and can
 * cancel them. `createWorker` is for tests (null: on this thread).
 */
export function ArchivePlayer({ eventId, label, createWorker }: {
  eventId: string; label: string; createWorker?: OpenClipOptions["createWorker"];
}) {
  const { api } = useServices();
  const archives = useMemo(() => archivesApi(api.client), [api]);
  const [view, setView] = useState<ArchiveView>({ kind: "checking" });
  const bytes = useRef<Uint8Array<ArrayBuffer> | null>(null);
  const secretField = useRef<HTMLInputElement>(null);
  const alive = useRef(true);
  const opening = useRef<AbortController | null>(null);

  const set = useCallback((next: ArchiveView) => {
    if (alive.current) setView(next);
  }, []);

  useEffect(() => {
    alive.current = true;
    bytes.current = null;
    setView({ kind: "checking" });
    archives.forEvent(eventId).then(
      (records) => set(records.length ? { kind: "available", record: records[0]! } : { kind: "none" }),
      (error: unknown) => set({ kind: "list-error", error }),
    );
    return () => {
      alive.current = false;
      bytes.current = null;
      opening.current?.abort(); // ends the worker
      opening.current = null;
    };
  }, [archives, eventId, set]);

  // The object URL lives as long as the player shows it.
  const playingUrl = view.kind === "playing" ? view.url : null;
  useEffect(() => () => {
    if (playingUrl) URL.revokeObjectURL(playingUrl);
  }, [playingUrl]);

  useEffect(() => {
    if (view.kind === "need-secret") secretField.current?.focus();
  }, [view]);

  async function download() {
    if (view.kind !== "available" && view.kind !== "failed") return;
    const record = view.record;
    if (!record) return;
    bytes.current = null;
    set({ kind: "downloading", record, received: 0, total: record.size });
    try {
      bytes.current = await downloadVerified(
        record, { link: (cid) => archives.download(cid) },
        (received, total) => set({ kind: "downloading", record, received, total }),
        () => set({ kind: "verifying", record }),
      );
      set({ kind: "need-secret", record, wrongSecret: false });
    } catch (error) {
      bytes.current = null;
      set({ kind: "failed", record, failure: toFailure(error) });
    }
  }

  async function open(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const field = secretField.current;
    const file = bytes.current;
    if (view.kind !== "need-secret" || !field || !file) return;
    const record = view.record;
    const secret = field.value;
    field.value = ""; // never kept: not in state, not in the DOM after this point
    if (!secret) return;
    set({ kind: "deriving", record });
    const controller = new AbortController();
    opening.current = controller;
    try {
      const opened = await openArchivedClip(file, secret, {
        signal: controller.signal,
        createWorker,
        onProgress: (p) => {
          if (p.phase === "decrypt" && !controller.signal.aborted) set({ kind: "decrypting", record, done: p.done, total: p.total });
        },
      });
      const url = URL.createObjectURL(new Blob([opened.plain], { type: "video/mp4" }));
      bytes.current = null;
      set({
        kind: "playing", record, url, sha256: opened.sha256, size: opened.plain.length, deriveMs: opened.deriveMs,
        decryptMs: opened.decryptMs, openedIn: opened.openedIn,
      });
    } catch (error) {
      if (controller.signal.aborted) {
        set({ kind: "need-secret", record, wrongSecret: false }); // cancelled: the download is kept
        return;
      }
      const failure = toFailure(error);
      if (canRetrySecret(failure)) {
        set({ kind: "need-secret", record, wrongSecret: true });
      } else {
        bytes.current = null;
        set({ kind: "failed", record, failure });
      }
    } finally {
      if (opening.current === controller) opening.current = null;
    }
  }

  function cancelOpening() {
    opening.current?.abort();
  }

  return (
    <section className="card archive" aria-labelledby="archive-heading" data-archive-state={view.kind}>
      <h2 id="archive-heading">Archived copy</h2>
      {view.kind === "checking" && <Loading label="Looking for an archived copy…" />}
      {view.kind === "none" && <p className="muted">This event has no archived copy.</p>}
      {view.kind === "list-error" && (
        <p className="muted" role="alert">The archive could not be checked. Reload the page to try again.</p>
      )}
      {view.kind === "available" && (
        <>
          <p>
            An end-to-end encrypted copy was stored off-site on {formatDateTime(view.record.stored_at)} ({mib(view.record.size)}).
            It opens in this browser with your archive secret.
          </p>
          <button type="button" className="button" onClick={() => void download()}>
            Play archived copy
          </button>
        </>
      )}
      {view.kind === "downloading" && (
        <div role="status">
          <p>Downloading the encrypted copy… {mib(view.received)} of {mib(view.total)}</p>
          <progress max={100} value={percent(view.received, view.total)} aria-label="Download progress" />
        </div>
      )}
      {view.kind === "verifying" && <Loading label="Checking the download against its content ID…" />}
      {view.kind === "need-secret" && (
        <form onSubmit={(e) => void open(e)} autoComplete="off">
          <p className="muted">The download matches its content ID. Enter your archive secret to open it in this browser; it is not stored or sent anywhere.</p>
          {view.wrongSecret && (
            <div className="notice notice-error" role="alert">
              <strong>{archiveMessage({ kind: "wrong-secret" }).title}</strong>
              <p>{archiveMessage({ kind: "wrong-secret" }).body}</p>
            </div>
          )}
          <div className="field">
            <label htmlFor="archive-secret">Archive secret</label>
            <input id="archive-secret" ref={secretField} type="password" autoComplete="off" spellCheck={false}
                   autoCapitalize="off" required minLength={1} />
          </div>
          <button type="submit" className="button">Decrypt and play</button>
        </form>
      )}
      {view.kind === "deriving" && <KeyDerivation onCancel={cancelOpening} />}
      {view.kind === "decrypting" && (
        <div role="status">
          <p>Decrypting… chunk {view.done} of {view.total}</p>
          <progress max={100} value={percent(view.done, view.total)} aria-label="Decryption progress" />
          <CancelButton onCancel={cancelOpening} />
        </div>
      )}
      {view.kind === "playing" && (
        <div className="player">
          <video src={view.url} controls autoPlay playsInline data-sha256={view.sha256} data-derive-ms={Math.round(view.deriveMs)}
                 data-decrypt-ms={Math.round(view.decryptMs)} data-opened-in={view.openedIn} aria-label={`Archived copy of ${label}`} />
          <p className="muted">
            Decrypted in this browser: {mib(view.size)}, every chunk authenticated, content ID {view.record.cid.slice(0, 16)}… verified.
          </p>
        </div>
      )}
      {view.kind === "failed" && (
        <div className="notice notice-error" role="alert" data-failure={view.failure.kind}>
          <strong>{archiveMessage(view.failure).title}</strong>
          <p>{archiveMessage(view.failure).body}</p>
          {view.record && view.failure.kind !== "gone" && view.failure.kind !== "bad-cid" && (
            <button type="button" className="button secondary" onClick={() => void download()}>
              Download again
            </button>
          )}
        </div>
      )}
    </section>
  );
}

/**
 * Argon2id has no progress of its own to report: an indeterminate bar and the seconds spent, which keep
 * moving because the work is in a worker (the page stays responsive).
 */
function KeyDerivation({ onCancel }: { onCancel: () => void }) {
  const [startedAt] = useState(() => Date.now());
  const seconds = Math.floor((useNow(1000).getTime() - startedAt) / 1000);
  return (
    <div role="status">
      <p>
        Deriving the key from your secret (Argon2id)…{" "}
        <span className="muted" aria-hidden="true">{seconds > 0 ? `${seconds} s` : ""}</span>
      </p>
      <progress aria-label="Key derivation in progress" />
      <p className="muted small">This deliberately slow step protects your secret; it usually takes a few seconds.</p>
      <CancelButton onCancel={onCancel} />
    </div>
  );
}

function CancelButton({ onCancel }: { onCancel: () => void }) {
  return (
    <button type="button" className="button secondary" onClick={onCancel}>
      Cancel
    </button>
  );
}
