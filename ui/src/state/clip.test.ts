import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import type { MediaOutcome } from "../api/media";
import type { ClipTokenPublic, DevicePublic, EventPublic } from "../api/types";
import { CLIP_PENDING_MS, clipMessage, clipPending, loadClip } from "./clip";

const event: EventPublic = {
  id: "e1", device_id: "d1", camera: "porch", label: "person", start_at: "2024-01-01T00:00:00Z",
  end_at: null, confidence: "high", has_clip: true, zones: [], severity: "detection",
};
const device: DevicePublic = { id: "d1", name: "", status: "healthy", reason: "", agent_version: "", last_seen_at: "2024-01-01T00:00:00Z", desired_config_version: 0, applied_config_version: 0 };

function deps(outcomes: MediaOutcome[], tokenError?: unknown) {
  const tokens: boolean[] = [];
  let n = 0;
  return {
    tokens,
    deps: {
      token: async (_id: string, fresh: boolean): Promise<ClipTokenPublic> => {
        tokens.push(fresh);
        if (tokenError) throw tokenError;
        n += 1;
        return { token: `t${n}`, relay_url: "https://relay.example", scopes: ["clip"], expires_at: "2030-01-01T00:00:00Z" };
      },
      probe: async () => outcomes.shift() ?? "error",
    },
  };
}

describe("clip player states", () => {
  it("plays from the relay with the token", async () => {
    const d = deps(["ok"]);
    const state = await loadClip(event, device, d.deps);
    expect(state).toMatchObject({ kind: "ready", src: "https://relay.example/media/v1/events/e1/clip.mp4?token=t1" });
    expect(state.kind === "ready" && state.downloadUrl).toMatch(/download=1/);
  });

  it("renews a refused token once, then says it expired", async () => {
    const renewed = deps(["expired", "ok"]);
    expect((await loadClip(event, device, renewed.deps)).kind).toBe("ready");
    expect(renewed.tokens).toEqual([false, true]);
    const refused = deps(["expired", "expired"]);
    expect((await loadClip(event, device, refused.deps)).kind).toBe("expired");
    expect(refused.tokens).toHaveLength(2);
  });

  it("explains offline devices, gone clips and unreachable relays", async () => {
    expect((await loadClip(event, { ...device, status: "offline" }, deps([]).deps)).kind).toBe("device-offline");
    expect((await loadClip(event, device, deps(["offline"]).deps)).kind).toBe("device-offline");
    expect((await loadClip(event, device, deps(["gone"]).deps)).kind).toBe("gone");
    expect((await loadClip(event, device, deps(["unreachable"]).deps)).kind).toBe("unreachable");
    expect((await loadClip({ ...event, has_clip: false }, device, deps([]).deps)).kind).toBe("no-clip");
  });

  it("maps the cloud's token refusals", async () => {
    const noRelay = new ApiError(409, "no_relay", "no relay is assigned to this tenant yet");
    expect((await loadClip(event, device, deps([], noRelay).deps)).kind).toBe("no-relay");
    const other = new ApiError(500, "internal", "internal error");
    expect((await loadClip(event, device, deps([], other).deps)).kind).toBe("error");
  });

  it("has a message for every state that is not playing", () => {
    for (const kind of ["no-clip", "no-relay", "expired", "gone", "unreachable"] as const) {
      expect(clipMessage({ kind })?.title).toBeTruthy();
    }
    expect(clipMessage({ kind: "device-offline", lastSeen: null })?.title).toMatch(/offline/);
    expect(clipMessage({ kind: "loading" })).toBeNull();
  });

  it("expects a clip while the event goes on and for a while after its end, then says there is none", () => {
    const now = Date.parse("2024-01-01T00:10:00Z");
    const ended = (msAgo: number) => new Date(now - msAgo).toISOString();
    expect(clipPending({ has_clip: false, end_at: null }, now)).toEqual({ kind: "pending", ongoing: true });
    expect(clipPending({ has_clip: false, end_at: ended(30_000) }, now)).toEqual({ kind: "pending", ongoing: false });
    expect(clipPending({ has_clip: false, end_at: ended(CLIP_PENDING_MS + 1) }, now)).toBeNull();
    expect(clipPending({ has_clip: true, end_at: null }, now)).toBeNull();
    expect(clipMessage({ kind: "pending", ongoing: true })?.body).toMatch(/appears here by itself/);
    expect(clipMessage({ kind: "pending", ongoing: false })?.title).toBe("The clip is being prepared");
  });
});
