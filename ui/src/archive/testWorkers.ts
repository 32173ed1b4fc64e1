// Workers for tests (Node and happy-dom have no Worker): the real worker code in this process, and one
// that holds its request until the test lets it answer.
import type { WorkerLike } from "./opener";
import { answerOpenRequest, type OpenReply, type OpenRequest } from "./workerProtocol";

/** Runs what open.worker.ts runs; the request and every answer are cloned (and transferred) as postMessage does. */
export class InProcessWorker implements WorkerLike {
  onmessage: WorkerLike["onmessage"] = null;
  onerror: WorkerLike["onerror"] = null;
  onmessageerror: WorkerLike["onmessageerror"] = null;
  terminated = false;
  readonly requests: OpenRequest[] = [];
  readonly transferred: ArrayBuffer[] = [];
  private held = false;
  private release: (() => void) | null = null;

  /** Hold requests until answer() (to look at the page while the worker is busy). */
  static holding(): InProcessWorker {
    const worker = new InProcessWorker();
    worker.held = true;
    return worker;
  }

  postMessage(message: OpenRequest): void {
    const request = structuredClone(message);
    this.requests.push(request);
    const run = () => void answerOpenRequest(request, (reply, transfer = []) => {
      this.transferred.push(...(transfer as ArrayBuffer[]));
      const delivered = structuredClone(reply, { transfer });
      setTimeout(() => {
        if (!this.terminated) this.onmessage?.({ data: delivered } as MessageEvent<OpenReply>);
      }, 0);
    });
    if (this.held) this.release = run;
    else setTimeout(run, 0);
  }

  /** Let a held request be answered. */
  answer(): void {
    this.release?.();
    this.release = null;
  }

  terminate(): void {
    this.terminated = true;
  }
}
