import type { ApiClient } from "./client";
import type { ClipTokenPublic, EventCount, EventFilters, EventPage, EventPublic, MediaScope } from "./types";

export const STREAM_PATH = "/events/stream";

export function eventsApi(client: ApiClient) {
  return {
    /** One page, newest first; pass the page's `next_cursor` back as `cursor` for the next. */
    list: (filters: EventFilters, cursor?: string | null, limit = 50) =>
      client.get<EventPage>("/events", { query: { ...filters, cursor: cursor ?? undefined, limit } }),
    get: (id: string) => client.get<EventPublic>(`/events/${encodeURIComponent(id)}`),
    /**
     * Events per UTC hour or day; default range: the last 24 h (hour) or 30 days (day). With
     * `groupBy: "label"`, one row per bucket and label (each row has `label`), in one request.
     */
    counts: (bucket: "hour" | "day", filters: EventFilters = {}, groupBy?: "label") =>
      client.get<EventCount[]>("/events/counts", { query: { bucket, ...filters, group_by: groupBy } }),
    /** A short-lived token (≤ 5 min) for the tenant's relay to serve this event's media. */
    clipToken: (id: string, scopes: MediaScope[] = ["clip", "snapshot", "thumbnail"]) =>
      client.post<ClipTokenPublic>(`/events/${encodeURIComponent(id)}/clip-token`, { scopes }),
    /** The Server-Sent Events URL (`event: event`, data = EventPublic) for these filters. */
    streamUrl: (filters: Pick<EventFilters, "camera" | "label"> = {}) =>
      client.url(STREAM_PATH, { camera: filters.camera, label: filters.label }),
  };
}

export type EventsApi = ReturnType<typeof eventsApi>;
