// Live view (issue #18): the cloud mints a `live` device token for one camera and records the session in
// the tenant's audit; the browser then signals with the tenant's relay, and the video comes over WebRTC
// through the relay's TURN server, encrypted between the edge and this browser (the relay cannot read it).
//
// The relay's HTTP contract (agents/relay/live_http.py), all with Authorization: Bearer <live token>:
//   GET    {relay_url}/media/v1/devices/{device}/cameras/{camera}/live            {ice_servers, expires_at}
//   POST   {relay_url}/media/v1/devices/{device}/cameras/{camera}/live  {sdp}     {session, sdp, ice_servers, expires_at}
//   POST   {relay_url}/media/v1/devices/{device}/cameras/{camera}/live/{session}  {expires_at}   (renewed token)
//   DELETE {relay_url}/media/v1/devices/{device}/cameras/{camera}/live/{session}  204
// Errors are JSON {"error": code, "detail": text}: 401 token_expired/token_invalid, 403 device_revoked…,
// 404 camera_not_found, 503 device_offline/camera_unavailable/live_disabled, 504 device_timeout.
import { isApiError } from "./errors";
import type { DeviceAccessToken } from "./cameraAccess";
import { isRelayError, relayFailure, send } from "./cameraAccess";
import type { ApiClient, FetchLike } from "./client";
import type { components } from "./schema.gen";

export type LiveSession = components["schemas"]["LiveSessionPublic"];
export type LiveStream = "sub" | "main";

export interface LiveIceServers {
  ice_servers: RTCIceServer[];
  expires_at: string;
}

export interface LiveAnswer extends LiveIceServers {
  session: string;
  sdp: string;
}

export function liveApi(client: ApiClient) {
  return {
    /** A live token for one camera; opens a session in the tenant's audit (409 live_viewer_limit when full). */
    token: (deviceId: string, camera: string, stream: LiveStream = "sub") =>
      client.post<DeviceAccessToken>(`/devices/${encodeURIComponent(deviceId)}/access-token`,
        { scopes: ["live"], camera, stream }),
    /** A new live token for the same session (409 live_session_ended once it ended), before the last expires. */
    renew: (sessionId: string) =>
      client.post<DeviceAccessToken>(`/live-sessions/${encodeURIComponent(sessionId)}/renew`),
    /** The viewer closed it: it stops counting against the plan's viewers. */
    end: (sessionId: string) => client.post<void>(`/live-sessions/${encodeURIComponent(sessionId)}/end`),
    /** The same, from a page going away (tab closed, navigated off): a beacon outlives the page, a fetch
     * does not. It carries the session cookie like any same-origin request, and only that (SameSite=Strict:
     * no other site's page can send it), so it is as safe from CSRF as `end`. Best effort. */
    endOnLeave: (sessionId: string) => {
      const url = client.url(`/live-sessions/${encodeURIComponent(sessionId)}/end`);
      if (typeof navigator !== "undefined" && navigator.sendBeacon?.(url)) return;
      void fetch(url, { method: "POST", credentials: "same-origin", keepalive: true }).catch(() => undefined);
    },
    /** The audit (tenant admins). */
    sessions: () => client.get<LiveSession[]>("/live-sessions"),
  };
}

function liveUrl(grant: Pick<DeviceAccessToken, "relay_url">, deviceId: string, camera: string): string {
  return `${grant.relay_url.replace(/\/$/, "")}/media/v1/devices/${encodeURIComponent(deviceId)}/cameras/${encodeURIComponent(camera)}/live`;
}

async function call<T>(fetchImpl: FetchLike, url: string, token: string, method: string, body?: unknown,
                       signal?: AbortSignal, keepalive = false): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const init: RequestInit = { method, headers, signal: signal ?? null, keepalive };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(fetchImpl, url, init);
  if (!response.ok) throw await relayFailure(response);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** This browser's TURN server and credential (needed before the offer: the edge takes no trickled candidates). */
export function liveIceServers(grant: DeviceAccessToken, deviceId: string, camera: string, fetchImpl: FetchLike,
                               signal?: AbortSignal): Promise<LiveIceServers> {
  return call(fetchImpl, liveUrl(grant, deviceId, camera), grant.token, "GET", undefined, signal);
}

export function liveOffer(grant: DeviceAccessToken, deviceId: string, camera: string, sdp: string, fetchImpl: FetchLike,
                          signal?: AbortSignal): Promise<LiveAnswer> {
  return call(fetchImpl, liveUrl(grant, deviceId, camera), grant.token, "POST", { sdp }, signal);
}

/** Hand the edge's session a renewed token: it then lasts until that one expires. */
export function liveRenew(grant: DeviceAccessToken, deviceId: string, camera: string, session: string,
                          fetchImpl: FetchLike, signal?: AbortSignal): Promise<{ expires_at: string }> {
  return call(fetchImpl, `${liveUrl(grant, deviceId, camera)}/${encodeURIComponent(session)}`, grant.token, "POST",
    undefined, signal);
}

/** End the edge's session. `keepalive` for a page going away: the request outlives the page (a beacon
 * cannot carry the token header). */
export function liveStop(grant: DeviceAccessToken, deviceId: string, camera: string, session: string,
                         fetchImpl: FetchLike, keepalive = false): Promise<void> {
  return call(fetchImpl, `${liveUrl(grant, deviceId, camera)}/${encodeURIComponent(session)}`, grant.token, "DELETE",
    undefined, undefined, keepalive);
}

/** Why a live view is not playing, in the words the view shows. */
export type LiveFailure =
  | "token-expired" | "edge-offline" | "relay-unreachable" | "camera-unavailable" | "no-connection"
  | "viewer-limit" | "device-removed" | "refused" | "no-webrtc" | "live-disabled" | "error";

/** Whether trying again by itself can help (a full plan or a refusal needs a person). */
export function retriable(failure: LiveFailure): boolean {
  return !["viewer-limit", "device-removed", "refused", "no-webrtc", "live-disabled"].includes(failure);
}

export function liveFailure(error: unknown): LiveFailure {
  if (isApiError(error, "live_viewer_limit")) return "viewer-limit";
  // The cloud mints no token for a revoked device: it is gone for the tenant (404 not_found, as for a
  // device that never was; a camera it no longer has is camera_not_found).
  if (isApiError(error, "not_found") && error.status === 404) return "device-removed";
  if (isRelayError(error)) {
    if (error.status === 0) return "relay-unreachable";
    if (error.code === "token_expired") return "token-expired";
    if (error.code === "live_disabled") return "live-disabled";
    if (error.code === "device_revoked") return "device-removed";
    if (error.code === "camera_unavailable" || error.code === "camera_not_found") return "camera-unavailable";
    if (error.code === "device_offline" || error.status === 504 || error.status === 502) return "edge-offline";
    if (error.status === 401 || error.status === 403) return "refused";
    return "error";
  }
  if (error instanceof TypeError) return "relay-unreachable"; // fetch to the cloud failed
  return "error";
}

export const LIVE_FAILURE_WORDS: Record<LiveFailure, string> = {
  "token-expired": "The live access expired.",
  "edge-offline": "The camera box is offline: it is not connected to its relay.",
  "relay-unreachable": "Your relay cannot be reached. Check your internet connection.",
  "camera-unavailable": "The camera box cannot read this camera right now.",
  "no-connection": "The video could not connect through your relay (UDP to the relay may be blocked on this network).",
  "viewer-limit": "Your plan's live views are all in use. Close another live view first.",
  "device-removed": "This camera box was removed from your home; live view is not available.",
  refused: "The relay refused the live access. Reload the page and try again.",
  "no-webrtc": "This browser cannot play live video (no WebRTC).",
  "live-disabled": "Your relay does not serve live video (it has no TURN server configured).",
  error: "The live view failed.",
};
