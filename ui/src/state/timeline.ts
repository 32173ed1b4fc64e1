// The events timeline as pure functions: pages appended by cursor, live arrivals prepended, no
// duplicates, newest first, and only what the current filters admit.
import type { EventFilters, EventPublic } from "../api/types";
import { applyEventVersion } from "./live";

export interface TimelineState {
  filters: EventFilters;
  items: EventPublic[];
  nextCursor: string | null;
  status: "idle" | "loading" | "loading-more" | "ready" | "error";
  error: unknown;
  /** Live arrivals since the filters were set, newest first (for the aria-live announcement). */
  arrived: string[];
}

export function initialTimeline(filters: EventFilters = {}): TimelineState {
  return { filters, items: [], nextCursor: null, status: "idle", error: null, arrived: [] };
}

export type TimelineAction =
  | { type: "filter"; filters: EventFilters }
  | { type: "load"; more: boolean }
  | { type: "page"; items: EventPublic[]; nextCursor: string | null; append: boolean }
  | { type: "failed"; error: unknown }
  | { type: "live"; event: EventPublic }
  /** The member marked these events reviewed (`ids`), or every listed one that started before `before`. */
  | { type: "reviewed"; ids?: string[]; before?: string };

/** Newest first by start time, then id (the cloud's own order). */
export function compareEvents(a: EventPublic, b: EventPublic): number {
  const diff = Date.parse(b.start_at) - Date.parse(a.start_at);
  if (diff !== 0) return diff;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function matchesFilters(event: EventPublic, filters: EventFilters): boolean {
  if (filters.camera && event.camera !== filters.camera) return false;
  if (filters.label && event.label !== filters.label) return false;
  if (filters.zone && !event.zones.includes(filters.zone)) return false;
  if (filters.severity && (event.severity ?? "detection") !== filters.severity) return false;
  // A live message does not know this member's state (null): a new event is unreviewed.
  if (filters.reviewed && String(event.reviewed ?? false) !== filters.reviewed) return false;
  const start = Date.parse(event.start_at);
  if (filters.since && start < Date.parse(filters.since)) return false;
  if (filters.until && start >= Date.parse(filters.until)) return false;
  return true;
}

/** A later version of a listed event (same id) updates it; an older one arriving late changes nothing. */
function merge(existing: EventPublic[], incoming: EventPublic[]): EventPublic[] {
  const byId = new Map(existing.map((e) => [e.id, e]));
  for (const event of incoming) {
    const known = byId.get(event.id);
    const next = known ? applyEventVersion(known, event) : event;
    // A page (not a live message, whose state is null) knows this member's reviewed state: it wins.
    const reviewed = event.reviewed ?? next.reviewed;
    byId.set(event.id, reviewed === next.reviewed ? next : { ...next, reviewed });
  }
  return [...byId.values()].sort(compareEvents);
}

export function timelineReducer(state: TimelineState, action: TimelineAction): TimelineState {
  switch (action.type) {
    case "filter":
      return { ...initialTimeline(action.filters), status: "loading" };
    case "load":
      return { ...state, status: action.more ? "loading-more" : "loading", error: null };
    case "page":
      return {
        ...state,
        items: action.append ? merge(state.items, action.items) : merge([], action.items),
        nextCursor: action.nextCursor,
        status: "ready",
        error: null,
      };
    case "failed":
      return { ...state, status: "error", error: action.error };
    case "reviewed": {
      const ids = new Set(action.ids ?? []);
      const before = action.before ? Date.parse(action.before) : null;
      const hit = (e: EventPublic) => ids.has(e.id) || (before !== null && Date.parse(e.start_at) < before);
      return { ...state, items: state.items.map((e) => (hit(e) && !e.reviewed ? { ...e, reviewed: true } : e)) };
    }
    case "live": {
      if (!matchesFilters(action.event, state.filters)) return state;
      const known = state.items.some((e) => e.id === action.event.id);
      // An event older than the last loaded one belongs to a page not loaded yet: the cursor brings it.
      const last = state.items[state.items.length - 1];
      if (!known && state.nextCursor && last && compareEvents(action.event, last) > 0) return state;
      return {
        ...state,
        items: merge(state.items, [action.event]),
        arrived: known ? state.arrived : [action.event.id, ...state.arrived].slice(0, 20),
      };
    }
  }
}

/** Date-range inputs (`<input type="datetime-local">`, viewer's zone) → ISO 8601 with zone for the API. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

/** Filters ↔ URL search params, so a filtered timeline can be bookmarked and shared. */
export function filtersFromParams(params: URLSearchParams): EventFilters {
  const filters: EventFilters = {};
  for (const key of ["camera", "label", "zone", "since", "until", "severity", "reviewed"] as const) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  return filters;
}

export function filtersToParams(filters: EventFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  return params;
}
