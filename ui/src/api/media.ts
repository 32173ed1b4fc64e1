// Media (clips, snapshots, thumbnails) never pass through the cloud: the browser fetches them from the
// tenant's relay, which checks the cloud-signed token offline and streams from the edge over gRPC.
//
// The relay's HTTP contract this UI uses (issue 7, item 2):
//   GET {relay_url}/media/v1/events/{event_id}/clip.mp4?token=T        video/mp4, Range → 206
//   GET {relay_url}/media/v1/events/{event_id}/thumbnail.jpg?token=T   image/jpeg
//   GET {relay_url}/media/v1/events/{event_id}/snapshot.jpg?token=T    image/jpeg
//   GET {relay_url}/media/v1/events/{event_id}/track.json?token=T      boxes (api/eventTrack.ts)
//   &download=1 → Content-Disposition: attachment (&name= the file name, state/eventPage.ts)
// The token travels in the query because <video>/<img> cannot send headers. Answers: 401/403 token
// expired or refused, 404 media gone, 502/503/504 edge offline. The relay must send CORS headers for
// the cloud's origin and `Cross-Origin-Resource-Policy: cross-origin`.
import type { ClipTokenPublic, MediaScope } from "./types";

export type MediaKind = "clip" | "thumbnail" | "snapshot";

const FILES: Record<MediaKind, string> = { clip: "clip.mp4", thumbnail: "thumbnail.jpg", snapshot: "snapshot.jpg" };

export function mediaUrl(grant: Pick<ClipTokenPublic, "relay_url" | "token">, eventId: string, kind: MediaKind,
                         options: { download?: boolean } = {}): string {
  const base = grant.relay_url.replace(/\/$/, "");
  const params = new URLSearchParams({ token: grant.token });
  if (options.download) params.set("download", "1");
  return `${base}/media/v1/events/${encodeURIComponent(eventId)}/${FILES[kind]}?${params.toString()}`;
}

/** What a relay answer means for the viewer. */
export type MediaOutcome = "ok" | "expired" | "gone" | "offline" | "unreachable" | "error";

export function classifyRelayStatus(status: number): MediaOutcome {
  if (status === 200 || status === 206) return "ok";
  if (status === 401 || status === 403) return "expired";
  if (status === 404 || status === 410) return "gone";
  if (status === 502 || status === 503 || status === 504) return "offline";
  if (status === 0) return "unreachable";
  return "error";
}

/**
 * Ask the relay for the first byte of a media file, to learn before playing whether it is there
 * (a <video> element reports only "error", never the HTTP status).
 */
export async function probeMedia(url: string, fetchImpl: typeof fetch = globalThis.fetch.bind(globalThis),
                                 signal?: AbortSignal): Promise<MediaOutcome> {
  try {
    const response = await fetchImpl(url, { headers: { Range: "bytes=0-0" }, signal: signal ?? null, cache: "no-store" });
    void response.body?.cancel().catch(() => undefined);
    return classifyRelayStatus(response.status);
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    return "unreachable";
  }
}

export function scopesFor(kind: MediaKind): MediaScope[] {
  return kind === "clip" ? ["clip", "snapshot", "thumbnail"] : [kind];
}
