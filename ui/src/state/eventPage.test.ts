import { describe, expect, it } from "vitest";
import type { EventFilters, EventPage, EventPublic } from "../api/types";
import {
  clipMarkers,
  downloadName,
  findNeighbours,
  scaleBox,
  shortcutFor,
  snapshotBox,
  withDownloadName,
  type EventTrack,
  type KeyLike,
} from "./eventPage";

function event(id: string, startAt: string, extra: Partial<EventPublic> = {}): EventPublic {
  return {
    id, device_id: "dev-1", camera: "campus", label: "person", start_at: startAt, end_at: null,
    confidence: "high", has_clip: false, zones: [], ...extra,
  } as EventPublic;
}

/** The cloud's list: filters by camera/since/until, newest first (then id), paged by an index cursor. */
function fakeList(all: EventPublic[]) {
  const calls: EventFilters[] = [];
  const list = async (filters: EventFilters, cursor: string | null, limit: number): Promise<EventPage> => {
    calls.push(filters);
    const rows = all
      .filter((e) => !filters.camera || e.camera === filters.camera)
      .filter((e) => !filters.since || Date.parse(e.start_at) >= Date.parse(filters.since))
      .filter((e) => !filters.until || Date.parse(e.start_at) < Date.parse(filters.until))
      .sort((a, b) => Date.parse(b.start_at) - Date.parse(a.start_at) || (a.id < b.id ? 1 : -1));
    const from = cursor ? Number(cursor) : 0;
    const items = rows.slice(from, from + limit);
    return { items, next_cursor: from + limit < rows.length ? String(from + limit) : null };
  };
  return { list, calls };
}

describe("downloadName", () => {
  it("is camera, local start time and label", () => {
    // Built from local time: the name shows the viewer's clock, whatever zone the test runs in.
    const start = new Date(2026, 11, 2, 5, 4, 18).toISOString();
    expect(downloadName("campus", start, "person")).toBe("campus_2026-12-02_05-04-18_person.mp4");
  });

  it("keeps only what a file name on every system takes", () => {
    const start = new Date(2026, 0, 9, 23, 59, 1).toISOString();
    expect(downloadName("Front door / porch", start, "teddy bear")).toBe("Front-door-porch_2026-01-09_23-59-01_teddy-bear.mp4");
    expect(downloadName("…", start, "")).toBe("camera_2026-01-09_23-59-01_event.mp4");
  });

  it("travels to the relay as ?name=", () => {
    const url = withDownloadName("https://relay.example/media/v1/events/e1/clip.mp4?token=T&download=1", "a_b.mp4");
    expect(new URL(url).searchParams.get("name")).toBe("a_b.mp4");
    expect(new URL(url).searchParams.get("token")).toBe("T");
  });
});

describe("findNeighbours", () => {
  const events = [
    event("a", "2026-12-02T10:00:00Z"),
    event("b", "2026-12-02T10:00:05Z", { camera: "garden" }),
    event("c", "2026-12-02T10:00:10Z"),
    event("d", "2026-12-02T10:00:10Z"), // the same second as c: ordered by id, d above c
    event("e", "2026-12-02T12:00:00Z"),
    event("f", "2026-12-05T12:00:00Z"),
  ];

  it("finds the rows above and below in the newest-first list", async () => {
    const { list } = fakeList(events);
    const current = events[2]!; // c
    const { previous, next } = await findNeighbours(current, {}, list);
    expect(previous?.id).toBe("d");
    expect(next?.id).toBe("b");
  });

  it("keeps the list's filters", async () => {
    const { list, calls } = fakeList(events);
    const { previous, next } = await findNeighbours(events[0]!, { camera: "campus" }, list);
    expect(next).toBeNull(); // a is the oldest
    expect(previous?.id).toBe("c"); // b is another camera's
    expect(calls.every((f) => f.camera === "campus")).toBe(true);
  });

  it("reaches across long gaps and stops at the top", async () => {
    const { list } = fakeList(events);
    expect((await findNeighbours(events[4]!, {}, list)).previous?.id).toBe("f"); // three days later
    const top = await findNeighbours(events[5]!, {}, list);
    expect(top.previous).toBeNull();
    expect(top.next?.id).toBe("e");
  });

  it("does not leave the list's date range", async () => {
    const { list } = fakeList(events);
    const { previous } = await findNeighbours(events[4]!, { until: "2026-12-03T00:00:00Z" }, list);
    expect(previous).toBeNull();
  });

  it("pages through a busy window", async () => {
    const busy = Array.from({ length: 130 }, (_, i) =>
      event(`n${String(i).padStart(3, "0")}`, new Date(Date.parse("2026-12-02T10:00:00Z") + i * 100).toISOString()));
    const { list } = fakeList(busy);
    const { previous, next } = await findNeighbours(busy[40]!, {}, list);
    expect(previous?.id).toBe("n041");
    expect(next?.id).toBe("n039");
  });
});

describe("shortcutFor", () => {
  const key = (k: string, target: Partial<HTMLElement> | null = { tagName: "BODY" }, extra: Partial<KeyLike> = {}): KeyLike =>
    ({ key: k, altKey: false, ctrlKey: false, metaKey: false, target: target as EventTarget, ...extra });

  it("maps j/k, space and the arrows", () => {
    expect(shortcutFor(key("j"))).toBe("next");
    expect(shortcutFor(key("k"))).toBe("previous");
    expect(shortcutFor(key(" "))).toBe("play-pause");
    expect(shortcutFor(key("ArrowLeft"))).toBe("back");
    expect(shortcutFor(key("ArrowRight"))).toBe("forward");
    expect(shortcutFor(key("x"))).toBeNull();
  });

  it("leaves typing, modifiers and keys the focused element handles alone", () => {
    expect(shortcutFor(key("j", { tagName: "INPUT" }))).toBeNull();
    expect(shortcutFor(key("j", { tagName: "DIV", isContentEditable: true }))).toBeNull();
    expect(shortcutFor(key("k", undefined, { ctrlKey: true }))).toBeNull();
    expect(shortcutFor(key(" ", { tagName: "BUTTON" }))).toBeNull();
    expect(shortcutFor(key(" ", { tagName: "VIDEO" }))).toBeNull();
    expect(shortcutFor(key("ArrowRight", { tagName: "VIDEO" }))).toBeNull();
    expect(shortcutFor(key("j", { tagName: "BUTTON" }))).toBe("next");
  });
});

describe("boxes and markers", () => {
  const track: EventTrack = {
    event_id: "e", label: "person", start: "2026-12-02T10:00:00Z", end: "2026-12-02T10:00:08Z",
    clip_duration_s: 18, best: 1,
    points: [
      { at: "2026-12-02T10:00:00Z", box: [0.1, 0.2, 0.3, 0.9] },
      { at: "2026-12-02T10:00:01Z", box: [0.5, 0.25, 0.75, 1.2] },
      { at: "2026-12-02T10:00:06Z", box: [0.6, 0.3, 0.8, 0.9] },
      { at: "2026-12-02T10:00:07Z", box: [0.6, 0.3, 0.8, 0.9] },
    ],
  };

  it("scales a normalised box to the picture, clamped", () => {
    const rounded = (r: ReturnType<typeof scaleBox>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v)]));
    expect(rounded(scaleBox([0.1, 0.2, 0.3, 0.9], 1000, 500))).toEqual({ x: 100, y: 100, width: 200, height: 350 });
    expect(rounded(scaleBox([0.75, 1.2, 0.5, 0.25], 400, 200))).toEqual({ x: 200, y: 50, width: 100, height: 150 });
  });

  it("draws the snapshot's box: the best point's", () => {
    expect(snapshotBox(track)).toEqual([0.5, 0.25, 0.75, 1.2]);
    expect(snapshotBox({ ...track, best: null })).toEqual([0.6, 0.3, 0.8, 0.9]);
    expect(snapshotBox({ ...track, points: [] })).toBeNull();
  });

  it("marks where the object is seen in the clip, after the pre-roll", () => {
    // 18 s clip, 8 s event: 5 s before and after. Points at 0, 1, 6, 7 s → 5–6 s and 11–12 s.
    expect(clipMarkers(track, 18)).toEqual([{ from: 5, to: 6 }, { from: 11, to: 12 }]);
    expect(clipMarkers(track, 0)).toEqual([]);
  });
});
