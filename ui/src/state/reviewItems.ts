// The timeline of review items: a paged list (./pagedList) whose rows the cloud's newer summary replaces.
import type { EventFilters, ReviewItemPublic } from "../api/types";
import { initialPagedList, pagedListReducer, type PagedAction, type PagedList } from "./pagedList";

export type ItemsState = PagedList<ReviewItemPublic>;
export type ItemsAction = PagedAction<ReviewItemPublic>;

export function initialItems(filters: EventFilters = {}): ItemsState {
  return initialPagedList(filters);
}


// The cloud's newer summary of an item wins (its events, span and reviewed state may all have changed).
export const itemsReducer = pagedListReducer<ReviewItemPublic, ItemsState>({ initial: initialItems, update: (_known, next) => next });
