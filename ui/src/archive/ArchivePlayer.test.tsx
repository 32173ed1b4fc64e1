// @vitest-environment happy-dom
// The archived-copy player with its work in a worker: what the page shows while the key is derived
// (busy, cancellable), after a wrong secret and once it plays. The worker runs the real worker code in
// this process (testWorkers.ts); the cloud and the store are fakes behind fetch.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import { createServices, ServicesProvider } from "../context";
import { mount, settle, until as untilOn, type Mounted } from "../testDom";
import type { ArchiveDownload, ArchivePublic } from "./api";
import { ArchivePlayer } from "./ArchivePlayer";
import type { WorkerLike } from "./opener";
import { InProcessWorker } from "./testWorkers";

// (Paths, not URLs: happy-dom's URL is not one Node's fs takes.)
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const meta = JSON.parse(readFileSync(join(FIXTURES, "fixtures.json"), "utf8")) as
  { secret: string; small: { file: string; cid: string; plain_sha256: string } };
const small = new Uint8Array(readFileSync(join(FIXTURES, meta.small.file)));
const record: ArchivePublic = { cid: meta.small.cid, event_id: "e1", device_id: "d1", size: small.length, stored_at: "2026-01-01T00:00:00Z" };
const link: ArchiveDownload = {
  url: "https://store.example/guardian-archive/x?X-Amz-Signature=1", expires_at: "2099-01-01T00:00:00Z",
  cid: record.cid, size: small.length, event_id: "e1",
};

let page: Mounted;
let storeFetches = 0;
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);
const $ = <E extends Element = HTMLElement>(selector: string) => page.$<E>(selector);

function renderPlayer(workers: WorkerLike[]) {
  const cloud = async (input: string, init?: RequestInit) => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    const body = call === "GET /api/v1/archives" ? [record] : call === `POST /api/v1/archives/${record.cid}/download` ? link : null;
    return new Response(JSON.stringify(body ?? { error: { code: "not_found", message: call } }),
                        { status: body ? 200 : 404, headers: { "Content-Type": "application/json" } });
  };
  const services = createServices(createApi(new ApiClient({ fetch: cloud })));
  page = mount(
    <ServicesProvider services={services}>
      <ArchivePlayer eventId="e1" label="Person on porch" createWorker={() => workers.shift()!} />
    </ServicesProvider>,
  );
}

function click(element: HTMLElement) {
  act(() => element.click());
}

function button(name: string): HTMLButtonElement | undefined {
  return [...page.container.querySelectorAll("button")].find((b) => b.textContent === name);
}

/** Type the secret and press "Decrypt and play". */
function submitSecret(secret: string) {
  const field = $<HTMLInputElement>("#archive-secret")!;
  field.value = secret;
  act(() => {
    field.form!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
  });
}

beforeEach(() => {
  storeFetches = 0;
  // The store (presigned GET of the ciphertext).
  vi.stubGlobal("fetch", vi.fn(async () => {
    storeFetches += 1;
    return new Response(small.slice(), { status: 200 });
  }));
});

afterEach(() => {
  page.unmount();
  vi.unstubAllGlobals();
});

describe("archived copy, opened in a worker", () => {
  it("shows the key derivation as busy and cancellable, then a wrong secret, then plays", async () => {
    const busy = InProcessWorker.holding();
    const wrong = new InProcessWorker();
    const right = new InProcessWorker();
    renderPlayer([busy, wrong, right]);
    click(await until(() => button("Play archived copy"), "the play button"));
    await until(() => $("#archive-secret"), "the secret field (after the CID check)");

    // Busy: what the page shows while the worker derives the key.
    submitSecret(meta.secret);
    const status = await until(() => $("[data-archive-state=deriving] [role=status]"), "the busy state");
    expect(status.textContent).toContain("Deriving the key from your secret (Argon2id)");
    expect(status.querySelector("progress")!.hasAttribute("value")).toBe(false); // indeterminate
    expect(busy.requests).toHaveLength(1);
    expect(busy.requests[0]!.secret).toBe(meta.secret);
    expect(page.container.innerHTML).not.toContain(meta.secret);
    // Cancelled: the worker is ended, and the download is kept for another try.
    click(button("Cancel")!);
    await until(() => $("[data-archive-state=need-secret]"), "the secret field again");
    expect(busy.terminated).toBe(true);
    expect($("[role=alert]")).toBeNull();
    busy.answer(); // too late: nothing of it reaches the page
    await settle();
    expect($("[data-archive-state=need-secret]")).not.toBeNull();

    // A wrong secret: its own message, and the field is empty for another try.
    submitSecret("blue kettle?");
    const alert = await until(() => $("[data-archive-state=need-secret] [role=alert]"), "the wrong-secret message");
    expect(alert.textContent).toContain("Wrong archive secret");
    expect($<HTMLInputElement>("#archive-secret")!.value).toBe("");
    expect(wrong.terminated).toBe(true);

    // The right one: decrypted in the worker, exactly the original bytes, from a Blob URL.
    submitSecret(meta.secret);
    const video = await until(() => $<HTMLVideoElement>("[data-archive-state=playing] video"), "the archived copy playing");
    expect(video.dataset.sha256).toBe(meta.small.plain_sha256);
    expect(video.dataset.openedIn).toBe("worker");
    expect(video.getAttribute("src")).toMatch(/^blob:/);
    expect(right.terminated).toBe(true);
    expect(storeFetches).toBe(1); // one download for all three tries
    expect(page.container.innerHTML).not.toContain(meta.secret);
  });

  it("says so when the worker cannot run, without asking for the secret again", async () => {
    const broken: WorkerLike = {
      onmessage: null, onerror: null, onmessageerror: null,
      postMessage() {
        setTimeout(() => this.onerror?.({ message: "", preventDefault: () => undefined } as ErrorEvent), 0);
      },
      terminate() {},
    };
    renderPlayer([broken]);
    click(await until(() => button("Play archived copy"), "the play button"));
    await until(() => $("#archive-secret"), "the secret field");
    submitSecret(meta.secret);
    const alert = await until(() => $("[data-archive-state=failed] [role=alert]"), "the failure");
    expect(alert.textContent).toContain("The archived copy could not be opened");
    expect(alert.textContent).toContain("the decryption worker stopped: it could not be started");
    expect(button("Download again")).toBeDefined();
  });
});
