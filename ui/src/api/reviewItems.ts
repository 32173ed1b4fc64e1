import type { ApiClient } from "./client";
import type { EventFilters, EventPage, ReviewItemPage, ReviewItemsReviewedPublic, UnreadPublic } from "./types";

/** Review items (`/review-items`): a camera's overlapping activity as the edge grouped it, one timeline row
 * each, and the signed-in member's reviewed state per item (all of its events): an item is unread while any
 * of its events is unreviewed by them. */
export function reviewItemsApi(client: ApiClient) {
  return {
    /** One page, newest first; pass the page's `next_cursor` back as `cursor` for the next. */
    list: (filters: EventFilters, cursor?: string | null, limit = 30) =>
      client.get<ReviewItemPage>("/review-items", { query: { ...filters, cursor: cursor ?? undefined, limit } }),
    /** The item's events, newest first (an item holds a few; 200 is the API's page limit). */
    events: (id: string) => client.get<EventPage>("/events", { query: { review_item: id, limit: 200 } }),
    /** The member's unread items in total and per camera, selected as the list selects them (`reviewed` does
     * not apply; leave `camera` out to have every camera's count). */
    unread: (filters: Omit<EventFilters, "reviewed"> = {}) =>
      client.get<UnreadPublic>("/review-items/unread", { query: { ...filters } }),
    /** Mark reviewed every item the list shows with these filters; its events that started after
     * `loadedAt` (when the list was loaded) stay unreviewed. */
    markAll: (filters: EventFilters, loadedAt: string) => {
      const { reviewed: _ignored, ...rest } = filters;
      return client.post<ReviewItemsReviewedPublic>("/review-items/reviewed", { ...rest, loaded_at: loadedAt });
    },
    mark: (id: string) => client.request<void>("PUT", `/review-items/${encodeURIComponent(id)}/reviewed`),
    unmark: (id: string) => client.delete<void>(`/review-items/${encodeURIComponent(id)}/reviewed`),
  };
}

export type ReviewItemsApi = ReturnType<typeof reviewItemsApi>;
