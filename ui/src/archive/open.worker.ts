// The archive opener's Web Worker: Argon2id (hash-wasm; 64 MiB and seconds of CPU at the edge's default
// costs), the key unwrap and every chunk's AES-256-GCM, away from the page's main thread. It answers one
// request (workerProtocol.ts); the page ends it afterwards, which frees Argon2id's memory at once.
import { answerOpenRequest, type OpenRequest, type OpenReply } from "./workerProtocol";

// (The project compiles against the DOM library; this is the part of a worker's global scope used here.)
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenRequest>) => void) | null;
  postMessage: (message: OpenReply, transfer: Transferable[]) => void;
};

scope.onmessage = (event) => {
  void answerOpenRequest(event.data, (message, transfer = []) => scope.postMessage(message, transfer));
};
