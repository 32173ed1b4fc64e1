// The review items' list: the shared paged-list reducer (./pagedList) with the cloud's summary winning.
import { describe, expect, it } from "vitest";
import type { ReviewItemPublic } from "../api/types";
import { initialItems, itemsReducer } from "./reviewItems";

function item(id: string, start: string, extra: Partial<ReviewItemPublic> = {}): ReviewItemPublic {
  return { id, device_id: "d", camera: "porch", start_at: start, end_at: null, labels: ["person"], zones: [],
           severity: "detection", event_count: 1, best_event_id: `${id}-e`, reviewed: false, ...extra };
}

describe("review items list", () => {
  it("appends pages by cursor, newest first, and a new filter starts over", () => {
    let s = itemsReducer(initialItems(), { type: "filter", filters: { camera: "porch" } });
    expect(s.status).toBe("loading");
    s = itemsReducer(s, { type: "page", items: [item("c", "2024-01-01T10:02:00Z"), item("b", "2024-01-01T10:01:00Z")], nextCursor: "k" });
    s = itemsReducer(s, { type: "page", items: [item("b", "2024-01-01T10:01:00Z"), item("a", "2024-01-01T10:00:00Z")], nextCursor: null, append: true });
    expect(s.items.map((i) => i.id)).toEqual(["c", "b", "a"]);
    expect(s.nextCursor).toBeNull();
    s = itemsReducer(s, { type: "filter", filters: { camera: "yard" } });
    expect(s).toEqual({ filters: { camera: "yard" }, items: [], nextCursor: null, status: "loading", error: null });
  });

  it("merges a refreshed first page: the newer summary wins, older pages and the cursor stay", () => {
    let s = itemsReducer(initialItems(), { type: "page", items: [item("b", "2024-01-01T10:01:00Z"), item("a", "2024-01-01T10:00:00Z")], nextCursor: "k" });
    s = itemsReducer(s, { type: "page", refresh: true, nextCursor: null,
                          items: [item("n", "2024-01-01T11:00:00Z"), item("b", "2024-01-01T10:01:00Z", { event_count: 3, labels: ["person", "dog"] })] });
    expect(s.items.map((i) => [i.id, i.event_count])).toEqual([["n", 1], ["b", 3], ["a", 1]]);
    expect(s.nextCursor).toBe("k");
  });

  it("marks items reviewed by id or by start, and unreviewed again", () => {
    let s = itemsReducer(initialItems(), { type: "page", nextCursor: null,
                                           items: [item("c", "2024-01-01T10:02:00Z"), item("b", "2024-01-01T10:01:00Z"), item("a", "2024-01-01T10:00:00Z")] });
    s = itemsReducer(s, { type: "reviewed", before: "2024-01-01T10:01:30Z" });
    expect(s.items.map((i) => i.reviewed)).toEqual([false, true, true]);
    s = itemsReducer(s, { type: "reviewed", ids: ["a"], reviewed: false });
    expect(s.items.map((i) => i.reviewed)).toEqual([false, true, false]);
    const same = itemsReducer(s, { type: "reviewed", ids: ["b"] });
    expect(same.items[1]).toBe(s.items[1]); // already reviewed: the row is not copied
  });

  it("keeps its rows on failure and says so", () => {
    let s = itemsReducer(initialItems(), { type: "page", items: [item("a", "2024-01-01T10:00:00Z")], nextCursor: "k" });
    s = itemsReducer(s, { type: "load", more: true });
    s = itemsReducer(s, { type: "failed", error: new Error("offline") });
    expect(s.status).toBe("error");
    expect(s.items).toHaveLength(1);
  });
});
