import type { ApiClient } from "./client";
import type { EventFilters, ReviewAllPublic, UnreadPublic } from "./types";

/** Reviewing (`/reviews/…`): the signed-in member's own reviewed state; another member's is untouched. */
export function reviewsApi(client: ApiClient) {
  return {
    /** Unreviewed events in total and per camera, for these filters (camera and reviewed do not apply). */
    unread: (filters: Pick<EventFilters, "label" | "zone" | "severity" | "since"> = {}) =>
      client.get<UnreadPublic>("/reviews/unread", {
        query: { label: filters.label, zone: filters.zone, severity: filters.severity, since: filters.since },
      }),
    /** Mark reviewed every event matching the timeline's filters that started before `until`. */
    markAll: (filters: EventFilters, until: string) => {
      const { reviewed: _ignored, ...rest } = filters;
      const end = rest.until && rest.until < until ? rest.until : until;
      return client.post<ReviewAllPublic>("/reviews/mark-all", { ...rest, until: end });
    },
    mark: (id: string) => client.request<void>("PUT", `/reviews/events/${encodeURIComponent(id)}`),
    unmark: (id: string) => client.delete<void>(`/reviews/events/${encodeURIComponent(id)}`),
  };
}

export type ReviewsApi = ReturnType<typeof reviewsApi>;
