// Camera access through the tenant's relay (issue #17): the latest picture of a camera, ONVIF discovery
// and stream probes on the device's network. The cloud only signs a short-lived device token
// (POST /devices/{id}/access-token); the browser then talks to the relay, which checks the token offline
// and asks the edge over its tunnel. Pictures and camera logins never pass through the cloud.
//
// The relay's HTTP contract (agents/relay/media_http.py):
//   GET  {relay_url}/media/v1/devices/{device}/cameras/{camera}/picture.jpg?token=T  image/jpeg,
//        X-Picture-Taken-At: RFC 3339; 404 no_picture
//   POST {relay_url}/media/v1/devices/{device}/discover  (Bearer T)  {"took_s", "cameras": [...]}
//        with {"address", "sealed_credentials"}: that one camera asked again, with a login
//   POST {relay_url}/media/v1/devices/{device}/probe     (Bearer T)  {"url", "sealed_credentials"}
//        → {"ok": true, codec, width, height, fps} | {"ok": false, "error": {kind, detail}}
// Errors are JSON {"error": code, "detail": text}; 401/403 token refused, 502/503/504 device offline.
import type { ApiClient, FetchLike } from "./client";
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type DeviceScope = Schemas["DeviceTokenCreate"]["scopes"][number];

/** What the cloud answers for POST /devices/{id}/access-token. */
export type DeviceAccessToken = Schemas["DeviceTokenPublic"];

/** One media profile of a discovered camera (agents/edge/onvif/types.py MediaProfile). */
export interface DiscoveredProfile {
  token: string;
  name: string;
  encoding: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  stream_uri: string | null;
  snapshot_uri: string | null;
}

/** Why a camera or stream could not be described (ErrorKind's strings); `detail` never quotes a login. */
export interface CameraFailure {
  kind: string;
  detail: string;
}

/** A camera that answered discovery (agents/edge/onvif/types.py Camera, as `cameras discover --json`). */
export interface DiscoveredCamera {
  address: string;
  scopes?: string[];
  manufacturer: string | null;
  model: string | null;
  firmware?: string | null;
  serial?: string | null;
  profiles: DiscoveredProfile[];
  error: CameraFailure | null;
}

export interface Discovery {
  took_s: number;
  cameras: DiscoveredCamera[];
}

export type ProbeResult =
  | { ok: true; codec: string; width: number; height: number; fps: number | null }
  | { ok: false; error: CameraFailure };

/** A relay call that did not answer as hoped: `code` is the relay's, or "unreachable" when fetch failed. */
export class RelayError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = "RelayError";
  }
}

export function isRelayError(value: unknown): value is RelayError {
  return value instanceof RelayError;
}

export function deviceAccessApi(client: ApiClient) {
  return {
    /** A short-lived token for the relay; `discover` and `probe` need a tenant admin. */
    token: (deviceId: string, scopes: DeviceScope[], camera: string | null = null) =>
      client.post<DeviceAccessToken>(`/devices/${encodeURIComponent(deviceId)}/access-token`, { scopes, camera }),
  };
}

function relayBase(grant: Pick<DeviceAccessToken, "relay_url">, deviceId: string): string {
  return `${grant.relay_url.replace(/\/$/, "")}/media/v1/devices/${encodeURIComponent(deviceId)}`;
}

export function pictureUrl(grant: Pick<DeviceAccessToken, "relay_url" | "token">, deviceId: string, camera: string): string {
  const params = new URLSearchParams({ token: grant.token });
  return `${relayBase(grant, deviceId)}/cameras/${encodeURIComponent(camera)}/picture.jpg?${params.toString()}`;
}

export async function relayFailure(response: Response): Promise<RelayError> {
  let code = `http_${response.status}`;
  let detail = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown; detail?: unknown };
    if (typeof body.error === "string") code = body.error;
    if (typeof body.detail === "string") detail = body.detail;
  } catch {
    // not JSON (a proxy's page): keep the status
  }
  return new RelayError(response.status, code, detail);
}

export async function send(fetchImpl: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetchImpl(url, { ...init, cache: "no-store", credentials: "omit" });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new RelayError(0, "unreachable", cause instanceof Error ? cause.message : String(cause));
  }
}

export interface Picture {
  blob: Blob;
  /** When the edge took it (X-Picture-Taken-At); null when the relay did not say. */
  takenAt: Date | null;
}

/** The camera's latest picture; RelayError 404 `no_picture` while the edge has none. */
export async function fetchPicture(grant: DeviceAccessToken, deviceId: string, camera: string, fetchImpl: FetchLike,
                                   signal?: AbortSignal): Promise<Picture> {
  const response = await send(fetchImpl, pictureUrl(grant, deviceId, camera), { signal: signal ?? null });
  if (!response.ok) throw await relayFailure(response);
  const taken = response.headers.get("X-Picture-Taken-At");
  const takenAt = taken && Number.isFinite(Date.parse(taken)) ? new Date(taken) : null;
  return { blob: await response.blob(), takenAt };
}

async function postJson<T>(fetchImpl: FetchLike, url: string, token: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const init: RequestInit = { method: "POST", headers, signal: signal ?? null };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(fetchImpl, url, init);
  if (!response.ok) throw await relayFailure(response);
  return (await response.json()) as T;
}

/** The edge's error objects say `detail` (the relay) or `reason` (the edge's own JSON): one shape here. */
function failure(value: unknown): CameraFailure | null {
  if (!value || typeof value !== "object") return null;
  const raw = value as { kind?: unknown; detail?: unknown; reason?: unknown };
  return { kind: String(raw.kind ?? "protocol"), detail: String(raw.detail ?? raw.reason ?? "") };
}

/** Ask the device to search its network for ONVIF cameras (takes seconds). */
export async function discoverCameras(grant: DeviceAccessToken, deviceId: string, fetchImpl: FetchLike,
                                      signal?: AbortSignal): Promise<Discovery> {
  const found = await postJson<Discovery>(fetchImpl, `${relayBase(grant, deviceId)}/discover`, grant.token, undefined, signal);
  return { took_s: found.took_s, cameras: found.cameras.map((c) => ({ ...c, profiles: c.profiles ?? [], error: failure(c.error) })) };
}

/** Have the device ask the camera at `address` (a device service URL its search found) again, with the login
 *  sealed to its key: a camera that protects its media service answers a search without its streams. */
export async function describeCamera(grant: DeviceAccessToken, deviceId: string, address: string, sealedCredentials: string | null,
                                     fetchImpl: FetchLike, signal?: AbortSignal): Promise<DiscoveredCamera> {
  const found = await postJson<Discovery>(fetchImpl, `${relayBase(grant, deviceId)}/discover`, grant.token,
    { address, sealed_credentials: sealedCredentials }, signal);
  const camera = found.cameras[0];
  if (!camera) return { address, manufacturer: null, model: null, profiles: [], error: { kind: "protocol", detail: "no answer for this camera" } };
  return { ...camera, profiles: camera.profiles ?? [], error: failure(camera.error) };
}

/** Ask the device to open `url` with the login sealed to its key: the codec and size, or why not. */
export async function probeStream(grant: DeviceAccessToken, deviceId: string, url: string, sealedCredentials: string | null,
                                  fetchImpl: FetchLike, signal?: AbortSignal): Promise<ProbeResult> {
  const result = await postJson<ProbeResult>(fetchImpl, `${relayBase(grant, deviceId)}/probe`, grant.token,
    { url, sealed_credentials: sealedCredentials }, signal);
  return result.ok ? result : { ok: false, error: failure(result.error) ?? { kind: "protocol", detail: "" } };
}

/** Relay errors and probe failures in words for people. */
export function describeRelayError(error: unknown): string {
  if (!isRelayError(error)) return error instanceof Error ? error.message : String(error);
  if (error.status === 0) return "Your relay could not be reached. Check your internet connection and try again.";
  if (error.status === 503) return "The device is offline: it is not connected to its relay right now.";
  if (error.status === 502) return `The device answered with an error${error.message ? `: ${error.message}` : ""}.`;
  if (error.status === 504) return "The device did not answer in time. It may be busy or its connection slow; try again.";
  if (error.status === 401 || error.status === 403) return "The relay refused the access token. Reload the page and try again.";
  return error.message ? `The relay answered: ${error.message}` : `The relay answered with HTTP ${error.status}.`;
}

const KIND_WORDS: Record<string, string> = {
  unreachable: "Nothing answers at that address (refused, no route, or unknown host).",
  auth_failed: "The camera refused the user name or password.",
  not_found: "The camera has no stream at that path.",
  timeout: "The camera did not answer in time.",
  unsupported_codec: "The stream uses a video codec the recorder cannot store (H.264 or H.265 are needed).",
  no_video: "The stream has no video.",
  protocol: "The camera answered, but not as RTSP or ONVIF expect.",
};

export function describeFailure(failure: CameraFailure): string {
  return KIND_WORDS[failure.kind] ?? `The camera could not be used (${failure.kind}).`;
}
