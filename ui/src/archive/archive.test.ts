// The browser's archive decryptor against files made by the edge's Python encoder (fixtures/, made by
// fixtures/make_fixtures.py; tests/archive/test_browser_decrypt.py checks Python still opens them).
import { readFileSync } from "node:fs";
import { argon2id } from "hash-wasm";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import type { ArchiveDownload, ArchivePublic } from "./api";
import { cidDigest, sha256, toHex, verifyCid } from "./cid";
import { openArchive, type DecryptProgress } from "./decrypt";
import { fetchCiphertext } from "./download";
import { ArchiveError, type ArchiveFailure } from "./errors";
import { HEADER_SIZE, TAG_SIZE, parseHeader } from "./format";
import { archiveMessage, downloadVerified, toFailure } from "./player";

interface FixtureMeta { file: string; plain_size: number; cid: string; plain_sha256: string }
const meta = JSON.parse(readFileSync(new URL("./fixtures/fixtures.json", import.meta.url), "utf8")) as
  { secret: string; small: FixtureMeta; default: FixtureMeta };
const SECRET = meta.secret;

function load(which: FixtureMeta): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(new URL(`./fixtures/${which.file}`, import.meta.url)));
}

/** The fixtures' plaintext: byte i = (i * 31 + 7) mod 251 (as make_fixtures.py). */
function plain(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251);
}

function joined(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function failureOf(promise: Promise<unknown>): Promise<ArchiveFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ArchiveError) return error.failure;
    throw error;
  }
  throw new Error("expected an ArchiveError");
}

const small = load(meta.small); // 3000 bytes in chunks of 1 KiB: 1024 + 1024 + 952
const BLOCK = 1024 + TAG_SIZE;

describe("content IDs", () => {
  it("decodes a CIDv1 raw sha2-256 and checks bytes against it", async () => {
    expect(toHex(cidDigest(meta.small.cid))).toBe(toHex(await sha256(small)));
    await expect(verifyCid(small, meta.small.cid)).resolves.toBeUndefined();
  });

  it("rejects a download whose SHA-256 differs (one flipped byte)", async () => {
    const bad = small.slice();
    bad[2000]! ^= 1;
    expect(await failureOf(verifyCid(bad, meta.small.cid))).toEqual({ kind: "cid-mismatch" });
    expect(await failureOf(verifyCid(small, meta.default.cid))).toEqual({ kind: "cid-mismatch" });
  });

  it("refuses CIDs of another kind", () => {
    for (const cid of ["QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", // v0 (dag-pb)
      "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", // v1 dag-pb
      "not a cid", ""]) {
      expect(() => cidDigest(cid)).toThrow(ArchiveError);
    }
  });
});

describe("opening files made by the edge (Python)", () => {
  it("round trip: the small fixture decrypts to exactly the original bytes, with progress", async () => {
    const progress: DecryptProgress[] = [];
    const opened = await openArchive(small, SECRET, { onProgress: (p) => progress.push(p) });
    const out = joined(opened.parts);
    expect(out).toEqual(plain(3000));
    expect(toHex(await sha256(out))).toBe(meta.small.plain_sha256);
    expect(opened.parts.map((p) => p.length)).toEqual([1024, 1024, 952]);
    expect(progress).toEqual([{ phase: "derive" }, { phase: "decrypt", done: 1, total: 3 },
      { phase: "decrypt", done: 2, total: 3 }, { phase: "decrypt", done: 3, total: 3 }]);
  });

  it("round trip with the edge's default Argon2id costs (64 MiB, t=3, p=1) in hash-wasm", async () => {
    const file = load(meta.default);
    const header = parseHeader(file);
    expect([header.mCostKib, header.tCost, header.parallelism]).toEqual([65536, 3, 1]);
    const opened = await openArchive(file, SECRET, { argon2id });
    expect(joined(opened.parts)).toEqual(plain(100));
  });

  it("a wrong secret is reported as such (also one differing only in case or trailing space)", async () => {
    for (const wrong of ["fixture secret: blue kettle 1894", SECRET.toUpperCase(), `${SECRET} `]) {
      expect(await failureOf(openArchive(small, wrong))).toEqual({ kind: "wrong-secret" });
    }
  });

  it("a flipped byte in any chunk names that chunk", async () => {
    for (const [chunk, offset] of [[0, 5], [1, 700], [2, 10], [2, 952 + 3 /* in the last tag */]] as const) {
      const bad = small.slice();
      bad[HEADER_SIZE + chunk * BLOCK + offset]! ^= 0x40;
      const failure = await failureOf(openArchive(bad, SECRET));
      expect(failure.kind).toBe("tampered");
      expect(failure.kind === "tampered" && failure.chunk).toBe(chunk);
    }
  });

  it("an altered header: the key does not unwrap, or the file is refused before any work", async () => {
    for (const at of [20 /* salt */, 36 /* nonce prefix */, 60 /* wrapped key */]) {
      const bad = small.slice();
      bad[at]! ^= 1;
      expect((await failureOf(openArchive(bad, SECRET))).kind).toBe("wrong-secret");
    }
    const magic = small.slice();
    magic[0] = 0x58;
    expect((await failureOf(openArchive(magic, SECRET))).kind).toBe("format");
    const hugeMemory = small.slice();
    new DataView(hugeMemory.buffer).setUint32(6, 0xffffffff);
    expect(await failureOf(openArchive(hugeMemory, SECRET))).toMatchObject({ kind: "format" });
    const version = small.slice();
    version[4] = 2;
    expect(await failureOf(openArchive(version, SECRET))).toMatchObject({ kind: "format" });
  });

  it("truncation is detected at a chunk boundary, inside a chunk and down to the header", async () => {
    expect(await failureOf(openArchive(small.slice(0, HEADER_SIZE + 2 * BLOCK), SECRET)))
      .toEqual({ kind: "truncated", chunks: 2 });
    expect(await failureOf(openArchive(small.slice(0, small.length - 100), SECRET)))
      .toMatchObject({ kind: "tampered", chunk: 2 });
    expect(await failureOf(openArchive(small.slice(0, HEADER_SIZE + BLOCK + 10), SECRET)))
      .toEqual({ kind: "truncated", chunks: 1 });
    expect(await failureOf(openArchive(small.slice(0, HEADER_SIZE), SECRET))).toEqual({ kind: "truncated", chunks: 0 });
    expect((await failureOf(openArchive(small.slice(0, 50), SECRET))).kind).toBe("format");
  });

  it("reordered chunks and appended data fail", async () => {
    const swapped = small.slice();
    swapped.set(small.subarray(HEADER_SIZE + BLOCK, HEADER_SIZE + 2 * BLOCK), HEADER_SIZE);
    swapped.set(small.subarray(HEADER_SIZE, HEADER_SIZE + BLOCK), HEADER_SIZE + BLOCK);
    expect(await failureOf(openArchive(swapped, SECRET))).toMatchObject({ kind: "tampered", chunk: 0 });
    const longer = new Uint8Array(small.length + 40);
    longer.set(small);
    expect(await failureOf(openArchive(longer, SECRET))).toMatchObject({ kind: "tampered" });
  });
});

describe("download and the order of the checks", () => {
  const record: ArchivePublic = { cid: meta.small.cid, event_id: "e1", device_id: "d1", size: small.length, stored_at: "2026-01-01T00:00:00Z" };
  const link: ArchiveDownload = { url: "http://store.example/guardian-archive/x?X-Amz-Signature=1", expires_at: "2030-01-01T00:00:00Z", cid: record.cid, size: small.length, event_id: "e1" };

  function stream(bytes: Uint8Array, pieces: number): Response {
    const step = Math.ceil(bytes.length / pieces);
    return new Response(new ReadableStream({
      start(controller) {
        for (let at = 0; at < bytes.length; at += step) controller.enqueue(bytes.slice(at, at + step));
        controller.close();
      },
    }));
  }

  it("fetches without cookies or referrer, reports progress and checks the CID", async () => {
    const seen: RequestInit[] = [];
    const progress: number[] = [];
    const bytes = await downloadVerified(record, {
      link: async () => link,
      fetch: async (_url, init) => {
        seen.push(init!);
        return stream(small, 4);
      },
    }, (received) => progress.push(received));
    expect(bytes).toEqual(small);
    expect(seen[0]).toMatchObject({ credentials: "omit", referrerPolicy: "no-referrer", mode: "cors" });
    expect(progress.at(0)).toBe(0);
    expect(progress.at(-1)).toBe(small.length);
    expect(progress.length).toBeGreaterThan(2);
  });

  it("a damaged download is refused before any secret is asked for", async () => {
    const bad = small.slice();
    bad[500]! ^= 1;
    const error = await downloadVerified(record, { link: async () => link, fetch: async () => stream(bad, 2) }).catch((e: unknown) => e);
    expect(toFailure(error)).toEqual({ kind: "cid-mismatch" });
    const longer = new Uint8Array(small.length + 1);
    const error2 = await downloadVerified(record, { link: async () => link, fetch: async () => stream(longer, 2) }).catch((e: unknown) => e);
    expect(toFailure(error2)).toEqual({ kind: "cid-mismatch" });
  });

  it("expired link, missing object, unreachable store, no archive store", async () => {
    const expired = { ...link, expires_at: "2020-01-01T00:00:00Z" };
    const outcome = (l: ArchiveDownload, f: () => Promise<Response>) => fetchCiphertext(l, { fetch: f }).catch(toFailure);
    expect(await outcome(link, async () => new Response("<Error><Code>AccessDenied</Code></Error>", { status: 403 }))).toEqual({ kind: "expired" });
    expect(await outcome(expired, async () => Promise.reject(new TypeError("Failed to fetch")))).toEqual({ kind: "expired" });
    expect(await outcome(link, async () => Promise.reject(new TypeError("Failed to fetch")))).toEqual({ kind: "unreachable" });
    expect(await outcome(link, async () => new Response("", { status: 404 }))).toEqual({ kind: "gone" });
    expect(toFailure(new ApiError(404, "not_found", "archived clip not found"))).toEqual({ kind: "gone" });
    expect(toFailure(new ApiError(503, "archive_store_unconfigured", "x"))).toEqual({ kind: "unconfigured" });
  });

  it("has a clear message for every failure", () => {
    expect(archiveMessage({ kind: "wrong-secret" }).title).toBe("Wrong archive secret");
    expect(archiveMessage({ kind: "cid-mismatch" }).body).toMatch(/content ID/);
    expect(archiveMessage({ kind: "tampered", chunk: 3, detail: "" }).body).toMatch(/^Chunk 3 failed authentication/);
    expect(archiveMessage({ kind: "truncated", chunks: 2 }).body).toMatch(/truncated/);
    expect(archiveMessage({ kind: "expired" }).title).toMatch(/expired/);
    expect(archiveMessage({ kind: "gone" }).title).toBe("No archived copy");
  });
});
