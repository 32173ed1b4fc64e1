// Opening an archived clip without freezing the page. Argon2id at the edge's default costs (64 MiB,
// 3 passes) takes seconds of CPU in WebAssembly, so it runs in a Web Worker (open.worker.ts), with the
// key unwrap and the chunks: the page keeps painting its progress and can cancel. Only where there is
// no Worker at all (Vitest in Node or happy-dom) does the same code run on this thread.
import { openClip, type DecryptProgress, type OpenedClip } from "./decrypt";
import { replyError, type OpenReply, type OpenRequest } from "./workerProtocol";

/** The part of a Worker used here (a fake in tests). */
export interface WorkerLike {
  onmessage: ((event: MessageEvent<OpenReply>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror: ((event: MessageEvent) => void) | null;
  postMessage(message: OpenRequest): void;
  terminate(): void;
}

export type OpenedIn = "worker" | "page";

export interface OpenClipOptions {
  onProgress?: (p: DecryptProgress) => void;
  /** Aborting ends the worker at once and rejects with an AbortError. */
  signal?: AbortSignal;
  /** Starts the worker; null opens on this thread. Default: a module worker, where Worker exists. */
  createWorker?: (() => WorkerLike) | null;
}

/** Vite bundles open.worker.ts (and what it imports) as a worker chunk of its own. */
export function createOpenWorker(): WorkerLike {
  return new Worker(new URL("./open.worker.ts", import.meta.url), { type: "module", name: "archive-opener" });
}

function abortError(): DOMException {
  return new DOMException("opening the archived copy was cancelled", "AbortError");
}

/** Let the page paint (its busy state) before a long synchronous step on this thread. */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 16));
}

/** One request to a fresh worker, which is ended once it has answered, failed, or the caller aborted. */
export function openInWorker(worker: WorkerLike, file: Uint8Array<ArrayBuffer>, secret: string,
                             options: Pick<OpenClipOptions, "onProgress" | "signal"> = {}): Promise<OpenedClip> {
  const { onProgress, signal } = options;
  return new Promise<OpenedClip>((resolve, reject) => {
    const finish = () => {
      worker.onmessage = worker.onerror = worker.onmessageerror = null;
      worker.terminate();
      signal?.removeEventListener("abort", cancel);
    };
    const cancel = () => {
      finish();
      reject(abortError());
    };
    if (signal?.aborted) {
      cancel();
      return;
    }
    signal?.addEventListener("abort", cancel, { once: true });
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") {
        onProgress?.(data.progress);
        return;
      }
      finish();
      if (data.type === "opened") resolve(data.clip);
      else reject(replyError(data));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(new Error(`the decryption worker stopped: ${event.message || "it could not be started"}`));
    };
    worker.onmessageerror = () => {
      finish();
      reject(new Error("the decryption worker's answer could not be read"));
    };
    // Copied, not transferred: after a wrong secret the page still has the download for another try.
    worker.postMessage({ file, secret });
  });
}

/** Open `file` (its CID already checked) with `secret`: in a Web Worker wherever the browser has them. */
export async function openArchivedClip(file: Uint8Array<ArrayBuffer>, secret: string,
                                       options: OpenClipOptions = {}): Promise<OpenedClip & { openedIn: OpenedIn }> {
  const createWorker = options.createWorker === undefined
    ? (typeof Worker === "undefined" ? null : createOpenWorker)
    : options.createWorker;
  if (createWorker) return { ...(await openInWorker(createWorker(), file, secret, options)), openedIn: "worker" };
  await nextPaint();
  if (options.signal?.aborted) throw abortError();
  const clip = await openClip(file, secret, { onProgress: options.onProgress });
  if (options.signal?.aborted) throw abortError();
  return { ...clip, openedIn: "page" };
}
