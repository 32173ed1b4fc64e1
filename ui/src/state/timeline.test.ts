import { describe, expect, it } from "vitest";
import type { EventPublic } from "../api/types";
import { filtersFromParams, filtersToParams, initialTimeline, matchesFilters, timelineReducer } from "./timeline";

function ev(id: string, start: string, extra: Partial<EventPublic> = {}): EventPublic {
  return { id, device_id: "d", camera: "porch", label: "person", start_at: start, end_at: null, confidence: "high", has_clip: true, zones: [], severity: "detection", ...extra };
}

describe("timeline", () => {
  it("appends pages by cursor without duplicates, newest first", () => {
    let s = timelineReducer(initialTimeline(), { type: "filter", filters: {} });
    s = timelineReducer(s, { type: "page", items: [ev("c", "2024-01-01T10:02:00Z"), ev("b", "2024-01-01T10:01:00Z")], nextCursor: "k", append: false });
    s = timelineReducer(s, { type: "load", more: true });
    expect(s.status).toBe("loading-more");
    s = timelineReducer(s, { type: "page", items: [ev("b", "2024-01-01T10:01:00Z"), ev("a", "2024-01-01T10:00:00Z")], nextCursor: null, append: true });
    expect(s.items.map((e) => e.id)).toEqual(["c", "b", "a"]);
    expect(s.nextCursor).toBeNull();
    expect(s.status).toBe("ready");
  });

  it("puts a live arrival on top and remembers it for the announcement", () => {
    let s = timelineReducer(initialTimeline(), { type: "page", items: [ev("a", "2024-01-01T10:00:00Z")], nextCursor: null, append: false });
    s = timelineReducer(s, { type: "live", event: ev("n", "2024-01-01T11:00:00Z") });
    expect(s.items.map((e) => e.id)).toEqual(["n", "a"]);
    expect(s.arrived).toEqual(["n"]);
    const again = timelineReducer(s, { type: "live", event: ev("n", "2024-01-01T11:00:00Z") });
    expect(again.items).toHaveLength(2);
    expect(again.arrived).toEqual(["n"]);
  });

  it("updates a listed event with its later version, and never back to an older one", () => {
    let s = timelineReducer(initialTimeline(), { type: "page", items: [ev("a", "2024-01-01T10:00:00Z", { has_clip: false })], nextCursor: null, append: false });
    s = timelineReducer(s, { type: "live", event: ev("a", "2024-01-01T10:00:00Z", { has_clip: true, end_at: "2024-01-01T10:00:09Z" }) });
    expect(s.items).toMatchObject([{ id: "a", has_clip: true, end_at: "2024-01-01T10:00:09Z" }]);
    expect(s.arrived).toEqual([]);
    // A page fetched before that version came answers late: it does not take the clip away.
    s = timelineReducer(s, { type: "page", items: [ev("a", "2024-01-01T10:00:00Z", { has_clip: false })], nextCursor: null, append: true });
    expect(s.items).toMatchObject([{ id: "a", has_clip: true, end_at: "2024-01-01T10:00:09Z" }]);
  });

  it("ignores live events the filters exclude, and old ones a later page will bring", () => {
    let s = timelineReducer(initialTimeline(), { type: "filter", filters: { label: "person", until: "2024-01-01T12:00:00Z" } });
    s = timelineReducer(s, { type: "page", items: [ev("a", "2024-01-01T10:00:00Z")], nextCursor: "more", append: false });
    expect(timelineReducer(s, { type: "live", event: ev("car", "2024-01-01T11:00:00Z", { label: "car" }) })).toBe(s);
    expect(timelineReducer(s, { type: "live", event: ev("late", "2024-01-01T13:00:00Z") })).toBe(s);
    expect(timelineReducer(s, { type: "live", event: ev("old", "2024-01-01T09:00:00Z") })).toBe(s);
    expect(timelineReducer(s, { type: "live", event: ev("ok", "2024-01-01T11:00:00Z") }).items[0]!.id).toBe("ok");
  });

  it("keeps the error for the page to explain", () => {
    const s = timelineReducer(initialTimeline(), { type: "failed", error: new Error("x") });
    expect(s.status).toBe("error");
  });

  it("matches date ranges as the cloud does (since ≤ start < until)", () => {
    const f = { since: "2024-01-01T10:00:00Z", until: "2024-01-01T11:00:00Z" };
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z"), f)).toBe(true);
    expect(matchesFilters(ev("a", "2024-01-01T11:00:00Z"), f)).toBe(false);
    expect(matchesFilters(ev("a", "2024-01-01T10:30:00Z", { camera: "yard" }), { camera: "porch" })).toBe(false);
  });

  it("matches a zone filter only on events that touched the zone", () => {
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z", { zones: ["porch-step", "driveway"] }), { zone: "driveway" })).toBe(true);
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z", { zones: ["porch-step"] }), { zone: "driveway" })).toBe(false);
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z"), { zone: "driveway" })).toBe(false);
  });

  it("matches severity and this member's reviewed state; a live message (state unknown) counts as unreviewed", () => {
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z", { severity: "alert" }), { severity: "alert" })).toBe(true);
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z"), { severity: "alert" })).toBe(false);
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z", { reviewed: true }), { reviewed: "false" })).toBe(false);
    expect(matchesFilters(ev("a", "2024-01-01T10:00:00Z", { reviewed: null }), { reviewed: "false" })).toBe(true);
  });

  it("keeps the reviewed state a live version does not know, and takes the one a page knows", () => {
    let s = timelineReducer(initialTimeline(), { type: "page", items: [ev("a", "2024-01-01T10:00:00Z", { reviewed: false })], nextCursor: null, append: false });
    s = timelineReducer(s, { type: "reviewed", before: "2024-01-01T10:00:01Z" });
    expect(s.items[0]!.reviewed).toBe(true);
    s = timelineReducer(s, { type: "live", event: ev("a", "2024-01-01T10:00:00Z", { end_at: "2024-01-01T10:00:09Z", reviewed: null }) });
    expect(s.items[0]).toMatchObject({ reviewed: true, end_at: "2024-01-01T10:00:09Z" });
    s = timelineReducer(s, { type: "page", items: [ev("a", "2024-01-01T10:00:00Z", { reviewed: false })], nextCursor: null, append: true });
    expect(s.items[0]!.reviewed).toBe(false);
  });

  it("round-trips filters through the URL", () => {
    const filters = { camera: "porch", label: "person", zone: "driveway", since: "2024-01-01T00:00:00.000Z", severity: "alert", reviewed: "false" };
    expect(filtersFromParams(filtersToParams(filters))).toEqual(filters);
    expect(filtersFromParams(new URLSearchParams("camera=&x=1"))).toEqual({});
  });
});
