// @vitest-environment happy-dom
// Reviewing on the timeline and the event page: the real pages, services and API client, with fakes only
// at the browser's interfaces (fetch for the cloud, EventSource). The fake cloud keeps one member's
// reviewed state the way the API does (tests/cloud/test_reviews.py checks the API itself).
import { act } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import type { EventPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { mount, settle, until as untilOn, type Mounted } from "../testDom";
import { EventDetailPage } from "./EventDetail";
import { EventsPage } from "./Events";

class QuietEventSource extends EventTarget {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  close(): void {
    this.readyState = 2;
  }
}

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const event = (id: string, camera: string, start: string, label = "person", review_item?: string): EventPublic => ({
  id, device_id: "d1", camera, label, start_at: start, end_at: null, confidence: "high", has_clip: false,
  zones: [], severity: "detection", review_item,
});

/** One member's view of the cloud: three events (two on the porch, grouped by the edge into one review
 * item, "walk"; one in the yard from an older edge, an item of its own) and their reviewed set. */
function fakeCloud() {
  const events = [event("e1", "porch", minutesAgo(3), "person", "walk"), event("e2", "porch", minutesAgo(2), "dog", "walk"),
                  event("e3", "yard", minutesAgo(1))];
  const itemOf = (e: EventPublic) => e.review_item ?? e.id;
  const reviewed = new Set<string>();
  const markAllBodies: Record<string, string>[] = [];
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input, "http://cloud.test");
    const call = `${init?.method ?? "GET"} ${url.pathname}`;
    const q = url.searchParams;
    const shown = (e: EventPublic) => ({ ...e, reviewed: reviewed.has(e.id) });
    if (call === "GET /api/v1/review-items") {
      const ids = [...new Set(events.filter((e) => !q.get("camera") || e.camera === q.get("camera")).map(itemOf))];
      const items = ids.map((id) => {
        const of = events.filter((e) => itemOf(e) === id);
        return { id, device_id: "d1", camera: of[0]!.camera, start_at: of[0]!.start_at, end_at: null,
                 labels: [...new Set(of.map((e) => e.label))], zones: [], severity: "detection", event_count: of.length,
                 best_event_id: of[0]!.id, reviewed: of.every((e) => reviewed.has(e.id)) };
      }).filter((item) => !q.get("reviewed") || String(item.reviewed) === q.get("reviewed")).reverse();
      return json({ items, next_cursor: null });
    }
    const item = /^PUT \/api\/v1\/review-items\/([^/]+)\/reviewed$/.exec(call);
    if (item) {
      for (const e of events.filter((e) => itemOf(e) === decodeURIComponent(item[1]!))) reviewed.add(e.id);
      return new Response(null, { status: 204 });
    }
    if (call === "GET /api/v1/events") {
      const items = events
        .filter((e) => !q.get("review_item") || itemOf(e) === q.get("review_item"))
        .filter((e) => !q.get("camera") || e.camera === q.get("camera"))
        .filter((e) => !q.get("reviewed") || String(reviewed.has(e.id)) === q.get("reviewed"))
        .map(shown).reverse();
      return json({ items, next_cursor: null });
    }
    if (call === "GET /api/v1/review-items/unread") {
      // An item is unread while any of its events is: counted once, on its camera.
      const cameras = new Map<string, number>();
      const unreadItems = new Map(events.filter((e) => !reviewed.has(e.id)).map((e) => [itemOf(e), e.camera]));
      for (const camera of unreadItems.values()) cameras.set(camera, (cameras.get(camera) ?? 0) + 1);
      return json({ total: unreadItems.size, cameras: [...cameras].sort().map(([camera, count]) => ({ camera, count })) });
    }
    if (call === "POST /api/v1/review-items/reviewed") {
      const body = JSON.parse(String(init?.body)) as Record<string, string>;
      markAllBodies.push(body);
      const hits = events.filter((e) => (!body.camera || e.camera === body.camera) && e.start_at < body.loaded_at! && !reviewed.has(e.id));
      for (const e of hits) reviewed.add(e.id);
      return json({ items: new Set(hits.map(itemOf)).size, events: hits.length });
    }
    const one = /^(GET \/api\/v1\/events|PUT \/api\/v1\/reviews\/events)\/([^/]+)$/.exec(call);
    if (one) {
      const found = events.find((e) => e.id === decodeURIComponent(one[2]!));
      if (!found) return json({ error: { code: "not_found", message: "event not found" } }, 404);
      if (call.startsWith("PUT")) {
        reviewed.add(found.id);
        return new Response(null, { status: 204 });
      }
      return json(shown(found));
    }
    if (call === "GET /api/v1/cameras" || call === "GET /api/v1/devices" || call === "GET /api/v1/archives") return json([]);
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  return { fetch, reviewed, markAllBodies, events };
}

let page: Mounted;
const $ = <E extends Element = HTMLElement>(selector: string) => page.$<E>(selector);
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);
const badge = () => $("[data-testid=unread-badge]")?.textContent ?? null;
const rowStates = () => [...page.container.querySelectorAll<HTMLElement>("li.event")].map((li) => li.dataset.reviewed);

function render(cloud: ReturnType<typeof fakeCloud>, entry: string) {
  const services = createServices(createApi(new ApiClient({ fetch: cloud.fetch })));
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter initialEntries={[entry]}>
        <Routes>
          <Route path="/events" element={<EventsPage />} />
          <Route path="/events/:eventId" element={<EventDetailPage />} />
        </Routes>
      </MemoryRouter>
    </ServicesProvider>,
  );
}

beforeEach(() => {
  vi.stubGlobal("EventSource", QuietEventSource);
});

afterEach(() => {
  page.unmount();
  vi.unstubAllGlobals();
});

describe("reviewing", () => {
  it("shows the member's unread count, in total and for the camera filtered on", async () => {
    const cloud = fakeCloud();
    cloud.reviewed.add("e1");
    render(cloud, "/events");
    await until(() => badge() === "2 unreviewed", "the total unread badge");
    // One row per review item, newest first: the yard's, then the porch's walk (one of its two events
    // reviewed: the item is not).
    expect(rowStates()).toEqual(["false", "false"]);
    page.unmount();

    cloud.reviewed.add("e2");
    render(cloud, "/events");
    await until(() => badge() === "1 unreviewed", "the total unread badge");
    expect(rowStates()).toEqual(["false", "true"]); // all of the walk's events reviewed: the item is
    page.unmount();

    cloud.reviewed.delete("e2");
    render(cloud, "/events?camera=porch");
    await until(() => badge() === "1 unreviewed", "the porch's unread badge");
  });

  it("counts unread items, not events, with a badge per camera that filters on it", async () => {
    const cloud = fakeCloud();
    render(cloud, "/events");
    await until(() => badge() === "2 unreviewed", "the total unread badge"); // three events in two items
    const cameraBadges = () => [...page.container.querySelectorAll<HTMLButtonElement>("[data-testid=camera-unread]")];
    await until(() => cameraBadges().length === 2, "a badge per camera");
    expect(cameraBadges().map((b) => b.textContent)).toEqual(["porch 1", "yard 1"]);
    act(() => cameraBadges()[1]!.click());
    await until(() => rowStates().length === 1 && $("li.item[data-item=e3]"), "the yard's items only");
    expect(badge()).toBe("1 unreviewed");
    expect(cameraBadges()).toEqual([]); // filtered on a camera: its count is the badge
  });

  it("marks all reviewed with the timeline's filters, and only those", async () => {
    const cloud = fakeCloud();
    render(cloud, "/events?camera=porch");
    await until(() => badge() === "1 unreviewed", "the porch's unread badge"); // one item, two events
    const button = [...page.container.querySelectorAll("button")].find((b) => b.textContent === "Mark all reviewed")!;
    act(() => button.click());
    await until(() => badge() === "All reviewed", "the badge after marking");
    expect(cloud.markAllBodies).toHaveLength(1);
    expect(cloud.markAllBodies[0]!.camera).toBe("porch");
    expect(Date.parse(cloud.markAllBodies[0]!.loaded_at!)).toBeLessThanOrEqual(Date.now());
    expect([...cloud.reviewed].sort()).toEqual(["e1", "e2"]); // the yard's event stays unreviewed
    expect(rowStates()).toEqual(["true"]); // the porch's one item
    expect(button.disabled).toBe(true);
  });

  it("lists review items that expand to their events and are marked reviewed as a whole", async () => {
    const cloud = fakeCloud();
    render(cloud, "/events");
    await until(() => rowStates().length === 2, "the item rows");
    const walk = $("li.item[data-item=walk]")!;
    expect(walk.querySelector(".event-label")?.textContent).toBe("Person, Dog");
    // The row opens the item's best event; the events button lists the item's events.
    expect(walk.querySelector("a.event-link")?.getAttribute("href")).toBe("/events/e1");
    const expand = [...walk.querySelectorAll("button")].find((b) => b.textContent === "2 events")!;
    act(() => expand.click());
    await until(() => walk.querySelectorAll(".item-event a").length === 2, "the walk's events");
    expect([...walk.querySelectorAll(".item-event a")].map((a) => a.getAttribute("href"))).toEqual(["/events/e2", "/events/e1"]);
    expect(expand.getAttribute("aria-expanded")).toBe("true");

    const mark = [...walk.querySelectorAll("button")].find((b) => b.textContent === "Mark reviewed")!;
    act(() => mark.click());
    await until(() => walk.dataset.reviewed === "true", "the item marked reviewed");
    expect([...cloud.reviewed].sort()).toEqual(["e1", "e2"]); // each of its events, not the yard's
    await until(() => badge() === "1 unreviewed", "the unread count after marking the item");
    expect([...walk.querySelectorAll<HTMLElement>(".item-event")].map((li) => li.dataset.reviewed)).toEqual(["true", "true"]);
  });

  it("shows a camera added since the page loaded under its name, asking for the cameras once more only", async () => {
    // The porch was added in the UI after the page loaded its cameras: its first items name a camera the page
    // does not know yet. The yard's (reported by an older edge) never gets a name: it keeps its id.
    const cloud = fakeCloud();
    let cameraCalls = 0;
    const porch = { id: "c1", device_id: "d1", name: "porch", display_name: "Front porch", state: "streaming",
                    last_frame_at: null, fps: null };
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      if (new URL(input, "http://cloud.test").pathname === "/api/v1/cameras") {
        cameraCalls += 1;
        return new Response(JSON.stringify(cameraCalls === 1 ? [] : [porch]), { headers: { "Content-Type": "application/json" } });
      }
      return cloud.fetch(input, init);
    };
    render({ ...cloud, fetch }, "/events");
    await until(() => $("li.item[data-item=walk] .item-where")?.textContent?.startsWith("Front porch"), "the porch under its name");
    await settle();
    expect($("li.item[data-item=e3] .item-where")?.textContent?.startsWith("yard")).toBe(true);
    expect(cameraCalls).toBe(2);
  });

  it("keeps the unread count following live arrivals after the first twenty", async () => {
    // The page keeps the newest 20 arrivals; the count must follow the 21st too (about a minute of a busy
    // camera), each arrival here an item of its own.
    const sources: EventTarget[] = [];
    vi.stubGlobal("EventSource", class extends QuietEventSource {
      constructor() {
        super();
        sources.push(this);
      }
    });
    const cloud = fakeCloud();
    render(cloud, "/events");
    await until(() => badge() === "2 unreviewed", "the unread badge");
    for (let i = 1; i <= 21; i += 1) {
      const arrival = event(`live-${i}`, "yard", new Date().toISOString());
      cloud.events.push(arrival);
      act(() => void sources.at(-1)!.dispatchEvent(new MessageEvent("event", { data: JSON.stringify(arrival) })));
      await until(() => badge() === `${2 + i} unreviewed`, `the unread badge after arrival ${i}`);
    }
  });

  it("marks an event reviewed when its page opens", async () => {
    const cloud = fakeCloud();
    render(cloud, "/events/e2");
    await until(() => $("h1")?.textContent?.includes("Dog"), "the event page");
    await until(() => cloud.reviewed.has("e2"), "the event marked reviewed");
    await settle();
    expect([...cloud.reviewed]).toEqual(["e2"]);
  });
});
