import type { ApiClient } from "./client";
import type { EventFilters, EventPage, ReviewItemPage } from "./types";

/** Review items (`/review-items`): a camera's overlapping activity as the edge grouped it, one timeline row
 * each, and the signed-in member's reviewed state per item (all of its events). */
export function reviewItemsApi(client: ApiClient) {
  return {
    /** One page, newest first; pass the page's `next_cursor` back as `cursor` for the next. */
    list: (filters: EventFilters, cursor?: string | null, limit = 30) =>
      client.get<ReviewItemPage>("/review-items", { query: { ...filters, cursor: cursor ?? undefined, limit } }),
    /** The item's events, newest first (an item holds a few; 200 is the API's page limit). */
    events: (id: string) => client.get<EventPage>("/events", { query: { review_item: id, limit: 200 } }),
    mark: (id: string) => client.request<void>("PUT", `/review-items/${encodeURIComponent(id)}/reviewed`),
    unmark: (id: string) => client.delete<void>(`/review-items/${encodeURIComponent(id)}/reviewed`),
  };
}

export type ReviewItemsApi = ReturnType<typeof reviewItemsApi>;
