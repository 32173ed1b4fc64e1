import { describe, expect, it } from "vitest";
import { classifyRelayStatus, mediaUrl, probeMedia } from "./media";
import { bootstrapTokenState } from "./devices";

describe("relay media", () => {
  const grant = { relay_url: "https://relay-7.example:8443/", token: "a.b+c" };

  it("builds relay URLs with the token in the query", () => {
    expect(mediaUrl(grant, "ev 1", "clip")).toBe("https://relay-7.example:8443/media/v1/events/ev%201/clip.mp4?token=a.b%2Bc");
    expect(mediaUrl(grant, "e", "thumbnail")).toMatch(/\/thumbnail\.jpg\?token=/);
    expect(mediaUrl(grant, "e", "clip", { download: true })).toMatch(/&download=1$/);
  });

  it("maps relay answers to what the viewer is told", () => {
    expect([200, 206, 401, 403, 404, 503, 504, 500].map(classifyRelayStatus)).toEqual([
      "ok", "ok", "expired", "expired", "gone", "offline", "offline", "error",
    ]);
  });

  it("probes with a one-byte range and treats a failed connection as unreachable", async () => {
    let range = "";
    const ok = await probeMedia("https://r/x", async (_url, init) => {
      range = new Headers(init?.headers).get("Range") ?? "";
      return new Response("x", { status: 206 });
    });
    expect(ok).toBe("ok");
    expect(range).toBe("bytes=0-0");
    await expect(probeMedia("https://r/x", async () => { throw new TypeError("Failed to fetch"); })).resolves.toBe("unreachable");
  });

  it("tells the state of a bootstrap token", () => {
    const now = new Date("2024-06-01T12:00:00Z");
    const base = { id: "n", label: "", relay_id: "r", created_at: "2024-06-01T00:00:00Z", expires_at: "2024-06-02T00:00:00Z", used_at: null, revoked_at: null };
    expect(bootstrapTokenState(base, now)).toBe("pending");
    expect(bootstrapTokenState({ ...base, used_at: "2024-06-01T01:00:00Z" }, now)).toBe("used");
    expect(bootstrapTokenState({ ...base, revoked_at: "2024-06-01T01:00:00Z" }, now)).toBe("revoked");
    expect(bootstrapTokenState({ ...base, expires_at: "2024-06-01T11:00:00Z" }, now)).toBe("expired");
  });
});
