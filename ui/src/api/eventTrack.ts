// An event's boxes come from the tenant's relay (its cache of the edge's events), like the snapshot, with
// a `snapshot` clip token: GET {relay_url}/media/v1/events/{id}/track.json. The cloud never has them.
import type { EventTrack } from "../state/eventPage";
import type { ClipTokenPublic } from "./types";

export function trackUrl(grant: Pick<ClipTokenPublic, "relay_url" | "token">, eventId: string): string {
  const base = grant.relay_url.replace(/\/$/, "");
  return `${base}/media/v1/events/${encodeURIComponent(eventId)}/track.json?${new URLSearchParams({ token: grant.token })}`;
}

/** The track, or null when the relay has none (expired from its cache, or refused). */
export async function fetchTrack(url: string, fetchImpl: typeof fetch = globalThis.fetch.bind(globalThis),
                                 signal?: AbortSignal): Promise<EventTrack | null> {
  const response = await fetchImpl(url, { cache: "no-store", signal: signal ?? null, headers: { Accept: "application/json" } });
  if (!response.ok) return null;
  const body = (await response.json()) as EventTrack;
  return Array.isArray(body.points) ? body : null;
}
