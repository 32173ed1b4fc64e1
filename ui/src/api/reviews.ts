import type { ApiClient } from "./client";

/** Reviewing one event (`/reviews/events/…`): the signed-in member's own state; another member's is untouched.
 * Counts and "mark all" are per review item (`reviewItems.ts`). */
export function reviewsApi(client: ApiClient) {
  return {
    mark: (id: string) => client.request<void>("PUT", `/reviews/events/${encodeURIComponent(id)}`),
    unmark: (id: string) => client.delete<void>(`/reviews/events/${encodeURIComponent(id)}`),
  };
}

export type ReviewsApi = ReturnType<typeof reviewsApi>;
