// Opening archived clips off the main thread: the page's side (opener.ts) against the worker's real
// code (workerProtocol.ts, what open.worker.ts runs), with messages crossing as they do between threads
// (structured clone, transfer). The files are the edge's own (fixtures/, see archive.test.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { DecryptProgress } from "./decrypt";
import { ArchiveError } from "./errors";
import { HEADER_SIZE, TAG_SIZE } from "./format";
import { openArchivedClip, openInWorker, type WorkerLike } from "./opener";
import { toFailure } from "./player";
import { InProcessWorker } from "./testWorkers";

interface FixtureMeta { file: string; plain_size: number; cid: string; plain_sha256: string }
const meta = JSON.parse(readFileSync(new URL("./fixtures/fixtures.json", import.meta.url), "utf8")) as
  { secret: string; small: FixtureMeta; default: FixtureMeta };
const SECRET = meta.secret;
const load = (which: FixtureMeta) => new Uint8Array(readFileSync(new URL(`./fixtures/${which.file}`, import.meta.url)));
const plain = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251);

async function failureOf(promise: Promise<unknown>) {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return toFailure(error);
}

const small = load(meta.small);
const BLOCK = 1024 + TAG_SIZE;

describe("opening in a Web Worker", () => {
  it("decrypts the edge's file to exactly its bytes, reports progress, and leaves the download with the page", async () => {
    const worker = new InProcessWorker();
    const progress: DecryptProgress[] = [];
    const file = small.slice();
    const opened = await openArchivedClip(file, SECRET, { createWorker: () => worker, onProgress: (p) => progress.push(p) });
    expect(opened.openedIn).toBe("worker");
    expect(opened.plain).toEqual(plain(meta.small.plain_size));
    expect(opened.sha256).toBe(meta.small.plain_sha256);
    expect(progress).toEqual([{ phase: "derive" }, { phase: "decrypt", done: 1, total: 3 },
      { phase: "decrypt", done: 2, total: 3 }, { phase: "decrypt", done: 3, total: 3 }]);
    // The plaintext was handed over (transferred, not copied); the worker got a copy of the download.
    expect(worker.transferred.map((b) => b.byteLength)).toEqual([0]);
    expect(file).toEqual(small);
    expect(worker.requests[0]!.file).not.toBe(file);
    expect(worker.terminated).toBe(true);
  });

  it("opens the file with the edge's default Argon2id costs (64 MiB, t=3) there too", async () => {
    const opened = await openArchivedClip(load(meta.default), SECRET, { createWorker: () => new InProcessWorker() });
    expect(opened.plain).toEqual(plain(meta.default.plain_size));
    expect(opened.sha256).toBe(meta.default.plain_sha256);
  });

  it("reports a wrong secret, an altered chunk and a foreign file as the same failures as on the page", async () => {
    const open = (file: Uint8Array<ArrayBuffer>, secret: string) => {
      const worker = new InProcessWorker();
      return { worker, done: openArchivedClip(file, secret, { createWorker: () => worker }) };
    };
    const wrong = open(small, `${SECRET} `);
    expect(await failureOf(wrong.done)).toEqual({ kind: "wrong-secret" });
    expect(await wrong.done.catch((e: unknown) => e)).toBeInstanceOf(ArchiveError);
    expect(wrong.worker.terminated).toBe(true);
    const altered = small.slice();
    altered[HEADER_SIZE + BLOCK + 5]! ^= 1;
    expect(await failureOf(open(altered, SECRET).done)).toMatchObject({ kind: "tampered", chunk: 1 });
    const foreign = small.slice();
    foreign[0] = 0x58;
    expect(await failureOf(open(foreign, SECRET).done)).toMatchObject({ kind: "format" });
  });

  it("cancelling ends the worker at once; nothing arrives afterwards", async () => {
    const worker = new InProcessWorker();
    const controller = new AbortController();
    const progress: DecryptProgress[] = [];
    const done = openInWorker(worker, small, SECRET, { signal: controller.signal, onProgress: (p) => progress.push(p) });
    controller.abort();
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");
    expect(worker.terminated).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(progress).toEqual([]);
  });

  it("a worker that cannot start (blocked or missing script) is a clear error, not a hang", async () => {
    const broken: WorkerLike = {
      onmessage: null, onerror: null, onmessageerror: null,
      postMessage() {
        setTimeout(() => this.onerror?.({ message: "", preventDefault: () => undefined } as ErrorEvent), 0);
      },
      terminate() {},
    };
    expect(await failureOf(openArchivedClip(small, SECRET, { createWorker: () => broken })))
      .toEqual({ kind: "error", detail: "the decryption worker stopped: it could not be started" });
  });

  it("opens on this thread only where there is no Worker (as here, in Node)", async () => {
    expect(typeof Worker).toBe("undefined");
    const opened = await openArchivedClip(small, SECRET);
    expect(opened.openedIn).toBe("page");
    expect(opened.sha256).toBe(meta.small.plain_sha256);
    expect(await failureOf(openArchivedClip(small, "not it"))).toEqual({ kind: "wrong-secret" });
  });
});
