// The events timeline: a paged list (./pagedList) with live arrivals merged in (only what the current
// filters admit), and the filters' URL form.
import type { EventFilters, EventPublic } from "../api/types";
import { applyEventVersion } from "./live";
import { compareNewestFirst, initialPagedList, mergeRows, pagedListReducer, type PagedAction, type PagedList } from "./pagedList";

export interface TimelineState extends PagedList<EventPublic> {
  /** Live arrivals since the filters were set, newest first (for the aria-live announcement). */
  arrived: string[];
}

export function initialTimeline(filters: EventFilters = {}): TimelineState {
  return { ...initialPagedList<EventPublic>(filters), arrived: [] };
}

export type TimelineAction = PagedAction<EventPublic> | { type: "live"; event: EventPublic };

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
function updateEvent(known: EventPublic, event: EventPublic): EventPublic {
  const next = applyEventVersion(known, event);
  // A page (not a live message, whose state is null) knows this member's reviewed state: it wins.
  const reviewed = event.reviewed ?? next.reviewed;
  return reviewed === next.reviewed ? next : { ...next, reviewed };
}

const pagedTimeline = pagedListReducer<EventPublic, TimelineState>({ initial: initialTimeline, update: updateEvent });

export function timelineReducer(state: TimelineState, action: TimelineAction): TimelineState {
  if (action.type !== "live") return pagedTimeline(state, action);
  if (!matchesFilters(action.event, state.filters)) return state;
  const known = state.items.some((e) => e.id === action.event.id);
  // An event older than the last loaded one belongs to a page not loaded yet: the cursor brings it.
  const last = state.items[state.items.length - 1];
  if (!known && state.nextCursor && last && compareNewestFirst(action.event, last) > 0) return state;
  return {
    ...state,
    items: mergeRows(state.items, [action.event], updateEvent),
    arrived: known ? state.arrived : [action.event.id, ...state.arrived].slice(0, 20),
  };
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
