// The timeline of review items as pure functions: pages appended by cursor, a refreshed first page merged
// in (live arrivals), no duplicates, newest first, and the member's reviewed marks.
import type { EventFilters, ReviewItemPublic } from "../api/types";

export interface ItemsState {
  filters: EventFilters;
  items: ReviewItemPublic[];
  nextCursor: string | null;
  status: "idle" | "loading" | "loading-more" | "ready" | "error";
  error: unknown;
}

export function initialItems(filters: EventFilters = {}): ItemsState {
  return { filters, items: [], nextCursor: null, status: "idle", error: null };
}

export type ItemsAction =
  | { type: "filter"; filters: EventFilters }
  | { type: "load"; more: boolean }
  /** A page by cursor (`append`), the first page (replaces), or the first page again after live arrivals
   * (`refresh`: merged, the older pages loaded stay). */
  | { type: "page"; items: ReviewItemPublic[]; nextCursor: string | null; append?: boolean; refresh?: boolean }
  | { type: "failed"; error: unknown }
  /** The member marked these items reviewed or not (`ids`), or every listed one that started before `before`. */
  | { type: "reviewed"; ids?: string[]; before?: string; reviewed?: boolean };

/** Newest first by start time, then id (the cloud's own order). */
export function compareItems(a: ReviewItemPublic, b: ReviewItemPublic): number {
  const diff = Date.parse(b.start_at) - Date.parse(a.start_at);
  if (diff !== 0) return diff;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function merge(existing: ReviewItemPublic[], incoming: ReviewItemPublic[]): ReviewItemPublic[] {
  const byId = new Map(existing.map((item) => [item.id, item]));
  for (const item of incoming) byId.set(item.id, item); // the cloud's newer summary of the item wins
  return [...byId.values()].sort(compareItems);
}

export function itemsReducer(state: ItemsState, action: ItemsAction): ItemsState {
  switch (action.type) {
    case "filter":
      return { ...initialItems(action.filters), status: "loading" };
    case "load":
      return { ...state, status: action.more ? "loading-more" : "loading", error: null };
    case "page": {
      if (action.refresh) return { ...state, items: merge(state.items, action.items) };
      return {
        ...state,
        items: action.append ? merge(state.items, action.items) : merge([], action.items),
        nextCursor: action.nextCursor,
        status: "ready",
        error: null,
      };
    }
    case "failed":
      return { ...state, status: "error", error: action.error };
    case "reviewed": {
      const ids = new Set(action.ids ?? []);
      const before = action.before ? Date.parse(action.before) : null;
      const value = action.reviewed ?? true;
      const hit = (item: ReviewItemPublic) => ids.has(item.id) || (before !== null && Date.parse(item.start_at) < before);
      return { ...state, items: state.items.map((item) => (hit(item) && item.reviewed !== value ? { ...item, reviewed: value } : item)) };
    }
  }
}
