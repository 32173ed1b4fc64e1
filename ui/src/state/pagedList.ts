// A list loaded page by page (by cursor) as pure functions, shared by the events timeline and the review
// items: pages appended, a refreshed first page merged in, no duplicates, newest first, and the member's
// reviewed marks. What differs is how a later version of a listed row is merged (`update`).
import type { EventFilters } from "../api/types";

/** What a row needs: an id, a start time (the order), and the member's reviewed state (null: unknown). */
export interface Listed {
  id: string;
  start_at: string;
  reviewed?: boolean | null;
}

export interface PagedList<T extends Listed> {
  filters: EventFilters;
  items: T[];
  nextCursor: string | null;
  status: "idle" | "loading" | "loading-more" | "ready" | "error";
  error: unknown;
}

export function initialPagedList<T extends Listed>(filters: EventFilters = {}): PagedList<T> {
  return { filters, items: [], nextCursor: null, status: "idle", error: null };
}

export type PagedAction<T> =
  | { type: "filter"; filters: EventFilters }
  | { type: "load"; more: boolean }
  /** A page by cursor (`append`), the first page (replaces), or the first page again after live arrivals
   * (`refresh`: merged, the older pages loaded and the cursor stay). */
  | { type: "page"; items: T[]; nextCursor: string | null; append?: boolean; refresh?: boolean }
  | { type: "failed"; error: unknown }
  /** The member marked these rows reviewed or not (`ids`), or every listed one that started before `before`. */
  | { type: "reviewed"; ids?: string[]; before?: string; reviewed?: boolean };

/** Newest first by start time, then id (the cloud's own order). */
export function compareNewestFirst(a: Listed, b: Listed): number {
  const diff = Date.parse(b.start_at) - Date.parse(a.start_at);
  if (diff !== 0) return diff;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** `incoming` merged into `existing` by id (`update` decides between a known row and its new version). */
export function mergeRows<T extends Listed>(existing: T[], incoming: T[], update: (known: T, next: T) => T): T[] {
  const byId = new Map(existing.map((row) => [row.id, row]));
  for (const row of incoming) {
    const known = byId.get(row.id);
    byId.set(row.id, known ? update(known, row) : row);
  }
  return [...byId.values()].sort(compareNewestFirst);
}

/** The reducer of a paged list whose state is `S` (a PagedList, maybe with more fields that `initial` resets). */
export function pagedListReducer<T extends Listed, S extends PagedList<T>>(options: {
  initial: (filters: EventFilters) => S;
  update: (known: T, next: T) => T;
}): (state: S, action: PagedAction<T>) => S {
  const merge = (existing: T[], incoming: T[]) => mergeRows(existing, incoming, options.update);
  return (state, action) => {
    switch (action.type) {
      case "filter":
        return { ...options.initial(action.filters), status: "loading" };
      case "load":
        return { ...state, status: action.more ? "loading-more" : "loading", error: null };
      case "page":
        if (action.refresh) return { ...state, items: merge(state.items, action.items) };
        return {
          ...state,
          items: merge(action.append ? state.items : [], action.items),
          nextCursor: action.nextCursor,
          status: "ready",
          error: null,
        };
      case "failed":
        return { ...state, status: "error", error: action.error };
      case "reviewed": {
        const ids = new Set(action.ids ?? []);
        const before = action.before ? Date.parse(action.before) : null;
        const value = action.reviewed ?? true;
        const hit = (row: T) => ids.has(row.id) || (before !== null && Date.parse(row.start_at) < before);
        return { ...state, items: state.items.map((row) => (hit(row) && row.reviewed !== value ? { ...row, reviewed: value } : row)) };
      }
    }
  };
}
