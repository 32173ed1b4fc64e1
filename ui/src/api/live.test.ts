import { describe, expect, it } from "vitest";
import { retryDelay } from "../components/LiveView";
import { RelayError } from "./cameraAccess";
import { ApiError } from "./errors";
import { liveFailure, liveOffer, retriable } from "./live";

describe("live view", () => {
  it("says why a live view is not playing, and whether trying again can help", () => {
    const cases: [unknown, string][] = [
      [new RelayError(401, "token_expired", ""), "token-expired"],
      [new RelayError(503, "device_offline", ""), "edge-offline"],
      [new RelayError(504, "device_timeout", ""), "edge-offline"],
      [new RelayError(0, "unreachable", ""), "relay-unreachable"],
      [new RelayError(503, "camera_unavailable", ""), "camera-unavailable"],
      [new RelayError(503, "live_disabled", ""), "live-disabled"],
      [new RelayError(403, "device_revoked", ""), "device-removed"],
      [new ApiError(404, "not_found", "device not found"), "device-removed"], // the cloud, for a revoked device
      [new ApiError(404, "camera_not_found", "no such camera"), "error"],
      [new RelayError(403, "wrong_scope", ""), "refused"],
      [new ApiError(409, "live_viewer_limit", "full"), "viewer-limit"],
      [new TypeError("Failed to fetch"), "relay-unreachable"],
    ];
    expect(cases.map(([error]) => liveFailure(error))).toEqual(cases.map(([, failure]) => failure));
    expect(retriable("edge-offline") && retriable("token-expired") && retriable("relay-unreachable")).toBe(true);
    expect(retriable("viewer-limit") || retriable("refused") || retriable("live-disabled")
           || retriable("device-removed")).toBe(false);
  });

  it("backs off when reconnecting: 1 s, 2 s, 4 s … at most 30 s", () => {
    expect([0, 1, 2, 3, 10].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 30000]);
  });

  it("posts the offer to the relay with the live token, never with cookies", async () => {
    const seen: [string, RequestInit][] = [];
    const fetchLike = async (url: RequestInfo | URL, init?: RequestInit) => {
      seen.push([String(url), init ?? {}]);
      return new Response(JSON.stringify({ session: "s1", sdp: "v=0", ice_servers: [], expires_at: "2030-01-01T00:00:00Z" }),
        { status: 200, headers: { "Content-Type": "application/json" } });
    };
    const grant = { token: "T", relay_url: "https://relay.example/", scopes: ["live"], camera: "front door",
                    expires_at: "2030-01-01T00:00:00Z", live_session_id: "L" };
    const answer = await liveOffer(grant, "dev 1", "front door", "v=0 offer", fetchLike);
    expect(answer.session).toBe("s1");
    const [url, init] = seen[0]!;
    expect(url).toBe("https://relay.example/media/v1/devices/dev%201/cameras/front%20door/live");
    expect(init.method).toBe("POST");
    expect(init.credentials).toBe("omit");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer T");
    expect(JSON.parse(String(init.body))).toEqual({ sdp: "v=0 offer" });
  });
});
