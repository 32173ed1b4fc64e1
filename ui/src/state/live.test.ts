import { describe, expect, it } from "vitest";
import type { EventPublic } from "../api/types";
import { applyEventVersion, LiveEvents, parseEventMessage, type EventSourceLike, type LiveStatus } from "./live";

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: EventSourceLike["onopen"] = null;
  onerror: EventSourceLike["onerror"] = null;
  closed = false;
  private listeners: ((ev: MessageEvent) => void)[] = [];
  constructor(readonly url: string) {}
  addEventListener(_type: string, listener: (ev: MessageEvent) => void) { this.listeners.push(listener); }
  close() { this.closed = true; this.readyState = 2; }
  open() { this.readyState = 1; (this.onopen as unknown as () => void)?.(); }
  emit(data: unknown) { for (const l of this.listeners) l({ data: JSON.stringify(data) } as MessageEvent); }
  fail(closed: boolean) { this.readyState = closed ? 2 : 0; (this.onerror as unknown as () => void)?.(); }
}

const event: EventPublic = {
  id: "e1", device_id: "d", camera: "porch", label: "person", start_at: "2024-01-01T00:00:00Z", end_at: null,
  confidence: "high", has_clip: true, zones: [], severity: "detection",
};

function setup() {
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const got: EventPublic[] = [];
  const statuses: LiveStatus[] = [];
  let refreshes = 0;
  let resyncs = 0;
  const live = new LiveEvents({
    url: "/api/v1/events/stream",
    factory: (url) => { const s = new FakeSource(url); sources.push(s); return s; },
    onEvent: (e) => got.push(e),
    onStatus: (s) => statuses.push(s),
    onResync: () => { resyncs += 1; },
    refresh: async () => { refreshes += 1; return true; },
    schedule: (fn) => { timers.push(fn); return timers.length; },
    cancel: () => undefined,
  });
  return { live, sources, timers, got, statuses, refreshes: () => refreshes, resyncs: () => resyncs };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("live events", () => {
  it("delivers `event` messages once open", () => {
    const t = setup();
    t.live.start();
    t.sources[0]!.open();
    t.sources[0]!.emit(event);
    expect(t.got).toEqual([event]);
    expect(t.statuses).toEqual(["connecting", "live"]);
  });

  it("after the server refuses the stream, renews the session and reconnects, then resyncs", async () => {
    const t = setup();
    t.live.start();
    t.sources[0]!.open();
    t.sources[0]!.fail(true); // e.g. 401 once the access cookie expired
    await flush();
    expect(t.refreshes()).toBe(1);
    expect(t.sources[0]!.closed).toBe(true);
    expect(t.timers).toHaveLength(1);
    t.timers[0]!();
    expect(t.sources).toHaveLength(2);
    t.sources[1]!.open();
    expect(t.resyncs()).toBe(1);
    expect(t.live.current).toBe("live");
  });

  it("lets the browser retry network drops by itself", () => {
    const t = setup();
    t.live.start();
    t.sources[0]!.open();
    t.sources[0]!.fail(false);
    expect(t.live.current).toBe("reconnecting");
    expect(t.sources).toHaveLength(1);
    t.sources[0]!.open();
    expect(t.resyncs()).toBe(1);
  });

  it("stops cleanly and ignores a stale source", async () => {
    const t = setup();
    t.live.start();
    const first = t.sources[0]!;
    t.live.stop();
    expect(first.closed).toBe(true);
    first.emit(event);
    first.fail(true);
    await flush();
    expect(t.got).toEqual([]);
    expect(t.refreshes()).toBe(0);
  });

  it("parses only well-formed event messages", () => {
    expect(parseEventMessage(JSON.stringify(event))).toEqual(event);
    expect(parseEventMessage("{")).toBeNull();
    expect(parseEventMessage('{"id":1}')).toBeNull();
  });
});

describe("later versions of an event", () => {
  const first: EventPublic = { ...event, end_at: null, has_clip: false, confidence: "low" };

  it("take in the end, the clip and a higher confidence", () => {
    const ended = applyEventVersion(first, { ...first, end_at: "2024-01-01T00:00:08Z" });
    expect(ended).toEqual({ ...first, end_at: "2024-01-01T00:00:08Z" });
    const clip = applyEventVersion(ended, { ...ended, has_clip: true, confidence: "high" });
    expect(clip).toEqual({ ...ended, has_clip: true, confidence: "high" });
    expect(applyEventVersion(clip, { ...clip, end_at: "2024-01-01T00:00:30Z" }).end_at).toBe("2024-01-01T00:00:30Z");
  });

  it("take in a zone entered later, and keep it when an older version comes late", () => {
    const gate: EventPublic = { ...first, zones: ["front-gate"] };
    const walked = applyEventVersion(gate, { ...gate, zones: ["front-gate", "driveway"] });
    expect(walked.zones).toEqual(["front-gate", "driveway"]);
    expect(applyEventVersion(walked, gate)).toBe(walked);
  });

  it("return the shown event itself for another event, a repeat or an older version", () => {
    const full: EventPublic = { ...first, end_at: "2024-01-01T00:00:08Z", has_clip: true, confidence: "medium" };
    expect(applyEventVersion(full, { ...full, id: "e2", end_at: "2024-01-01T00:09:00Z" })).toBe(full);
    expect(applyEventVersion(full, { ...full })).toBe(full);
    expect(applyEventVersion(full, first)).toBe(full);
    expect(applyEventVersion(full, { ...full, end_at: "2024-01-01T00:00:05Z", confidence: "low" })).toBe(full);
  });
});
