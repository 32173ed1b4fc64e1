// @vitest-environment happy-dom
// The event page follows the live stream: the real page, services, API client and SSE client
// (state/live.ts through browserEventSource), with fakes only at the browser's own interfaces: the
// EventSource constructor, fetch for the cloud (ApiClient's) and for the relay (the clip probe).
import { act } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import type { ClipTokenPublic, DevicePublic, EventPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { mount, settle, until as untilOn, type Mounted } from "../testDom";
import { EventDetailPage } from "./EventDetail";

/** The browser's EventSource, driven by the test: open it, send it `event` messages, fail it. */
class FakeEventSource extends EventTarget {
  static readonly opened: FakeEventSource[] = [];
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;

  constructor(readonly url: string, readonly init?: EventSourceInit) {
    super();
    FakeEventSource.opened.push(this);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  send(event: EventPublic): void {
    this.dispatchEvent(new MessageEvent("event", { data: JSON.stringify(event) }));
  }
}

const START = new Date(Date.now() - 20_000).toISOString();
const at = (seconds: number) => new Date(Date.parse(START) + seconds * 1000).toISOString();

const firstReport: EventPublic = {
  id: "e1", device_id: "d1", camera: "porch", label: "person", start_at: START, end_at: null,
  confidence: "medium", has_clip: false, zones: [], severity: "detection",
};
const ended: EventPublic = { ...firstReport, end_at: at(8) };
const withClip: EventPublic = { ...ended, has_clip: true };
const device: DevicePublic = { id: "d1", name: "Hall", status: "healthy", reason: "", agent_version: "1", last_seen_at: START, desired_config_version: 0, applied_config_version: 0 };

/** The cloud's API as the page uses it; `events` is what GET /events/{id} answers now. */
function fakeCloud(initial: EventPublic) {
  const events = new Map([[initial.id, initial]]);
  const requests: string[] = [];
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input, "http://cloud.test");
    const call = `${init?.method ?? "GET"} ${url.pathname}`;
    requests.push(call);
    const eventMatch = /^GET \/api\/v1\/events\/([^/]+)$/.exec(call);
    if (eventMatch) {
      const event = events.get(decodeURIComponent(eventMatch[1]!));
      return event ? json(event) : json({ error: { code: "not_found", message: "event not found" } }, 404);
    }
    if (call === "GET /api/v1/devices/d1") return json(device);
    if (call === "GET /api/v1/cameras") return json([]);
    if (call === "GET /api/v1/archives") return json([]);
    if (call === "POST /api/v1/auth/refresh") return json({});
    if (/^POST \/api\/v1\/events\/[^/]+\/clip-token$/.test(call)) {
      const grant: ClipTokenPublic = { token: "t1", relay_url: "https://relay.example", scopes: ["clip"], expires_at: "2099-01-01T00:00:00Z" };
      return json(grant);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  return { events, requests, fetch, count: (call: string) => requests.filter((r) => r === call).length };
}

let page: Mounted;

function renderEventPage(cloud: ReturnType<typeof fakeCloud>, eventId = "e1") {
  const services = createServices(createApi(new ApiClient({ fetch: cloud.fetch })));
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter initialEntries={[`/events/${eventId}`]}>
        <Routes>
          <Route path="/events/:eventId" element={<EventDetailPage />} />
        </Routes>
      </MemoryRouter>
    </ServicesProvider>,
  );
}

const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);
const $ = <E extends Element = HTMLElement>(selector: string) => page.$<E>(selector);

/** The facts list as term → text. */
function facts(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const row of page.container.querySelectorAll(".facts > div")) {
    out[row.querySelector("dt")!.textContent!] = row.querySelector("dd")!.textContent!;
  }
  return out;
}

async function openedStream(): Promise<FakeEventSource> {
  return until(() => FakeEventSource.opened.find((s) => !s.closed), "the live stream");
}

beforeEach(() => {
  FakeEventSource.opened.length = 0;
  vi.stubGlobal("EventSource", FakeEventSource);
  // The relay answers the clip probe (Range: bytes=0-0).
  vi.stubGlobal("fetch", vi.fn(async () => new Response("x", { status: 206 })));
});

afterEach(() => {
  page.unmount();
  vi.unstubAllGlobals();
});

describe("event page, live", () => {
  it("shows the clip, the end and the duration as later versions of the open event arrive, without a reload", async () => {
    const cloud = fakeCloud(firstReport);
    renderEventPage(cloud);
    const heading = await until(() => $("h1"), "the heading");
    expect(heading.textContent).toBe("Person on porch");
    // First report: no end, no clip yet, and the page says the clip is still to come.
    const pending = await until(() => $("[data-clip-state=pending]"), "the pending clip notice");
    expect(pending.textContent).toContain("The event has not ended yet");
    expect(pending.textContent).toContain("appears here by itself");
    expect(facts()).toMatchObject({ Ended: "Not yet" });
    expect(facts()).not.toHaveProperty("Duration");

    // The stream of this event's camera and label, with the session cookies.
    const stream = await openedStream();
    expect(stream.url).toBe("/api/v1/events/stream?camera=porch&label=person");
    expect(stream.init).toEqual({ withCredentials: true });
    act(() => stream.open());
    await settle();
    expect(cloud.count("GET /api/v1/events/e1")).toBe(2); // fetched again once the stream was open

    // The event ended: end time and duration appear; the clip is being prepared.
    act(() => stream.send(ended));
    await until(() => facts().Duration === "8 s", "the duration");
    expect(facts().Ended).not.toBe("Not yet");
    expect($("time[datetime='" + ended.end_at + "']")).not.toBeNull();
    expect($("[data-clip-state=pending]")!.textContent).toContain("The clip is being prepared");
    // Ended: its snapshot is asked for (one token, which the clip reuses below).
    expect(cloud.count("POST /api/v1/events/e1/clip-token")).toBe(1);

    // The clip was assembled: the player appears, playing from the relay with a clip token.
    act(() => stream.send(withClip));
    const video = await until(() => $<HTMLVideoElement>("[data-clip-state=ready] video"), "the clip player");
    expect(video.getAttribute("src")).toBe("https://relay.example/media/v1/events/e1/clip.mp4?token=t1");
    expect($("a[download]")!.textContent).toBe("Download clip");
    expect($("[data-clip-state=pending]")).toBeNull();
    expect(cloud.count("POST /api/v1/events/e1/clip-token")).toBe(1);

    // All in place: the same page (not re-mounted, not re-fetched) and still the one stream.
    expect($("h1")).toBe(heading);
    expect(cloud.count("GET /api/v1/events/e1")).toBe(2);
    expect(FakeEventSource.opened).toHaveLength(1);
  });

  it("leaves a playing clip alone when an unrelated event, a repeat or an older version arrives", async () => {
    const cloud = fakeCloud(withClip);
    renderEventPage(cloud);
    const stream = await openedStream();
    act(() => stream.open());
    const video = await until(() => $<HTMLVideoElement>("[data-clip-state=ready] video"), "the clip player");
    video.currentTime = 4.5; // the viewer is watching
    const tokens = cloud.count("POST /api/v1/events/e1/clip-token");
    const factsBefore = facts();

    const unrelated: EventPublic = { ...withClip, id: "e2", start_at: at(30), end_at: at(40), confidence: "high" };
    for (const message of [unrelated, withClip, firstReport, ended]) {
      act(() => stream.send(message));
      await settle();
      expect($("video")).toBe(video);
      expect(video.currentTime).toBe(4.5);
      expect(facts()).toEqual(factsBefore);
    }
    expect(cloud.count("POST /api/v1/events/e1/clip-token")).toBe(tokens);

    // A later end and a higher confidence update the facts, and still not the player.
    act(() => stream.send({ ...withClip, end_at: at(75), confidence: "high" }));
    await until(() => facts().Duration === "1 min 15 s", "the new duration");
    expect(facts().Confidence).toBe("high");
    expect($("video")).toBe(video);
    expect(video.currentTime).toBe(4.5);
    expect(cloud.count("POST /api/v1/events/e1/clip-token")).toBe(tokens);
  });

  it("catches up with a version that came before the stream was open", async () => {
    const cloud = fakeCloud(firstReport);
    renderEventPage(cloud);
    await until(() => $("[data-clip-state=pending]"), "the pending clip notice");
    const stream = await openedStream();
    cloud.events.set("e1", withClip); // sent while the stream was still connecting: never on the stream
    act(() => stream.open());
    await until(() => $("[data-clip-state=ready] video"), "the clip player");
    expect(facts().Duration).toBe("8 s");
  });

  it("shows the zones the event touched, and one entered later, as names", async () => {
    const cloud = fakeCloud({ ...firstReport, zones: ["front-gate"] });
    renderEventPage(cloud);
    await until(() => facts().Zones === "front-gate", "the zone");
    const stream = await openedStream();
    act(() => stream.open());
    act(() => stream.send({ ...firstReport, zones: ["front-gate", "driveway"] })); // the same version but the zone
    await until(() => facts().Zones === "front-gatedriveway", "the second zone");
    expect([...page.container.querySelectorAll("[data-testid=zone-chip]")].map((c) => c.textContent))
      .toEqual(["front-gate", "driveway"]);
    act(() => stream.send({ ...firstReport, zones: ["front-gate"] })); // an older version, late
    await settle();
    expect(page.container.querySelectorAll("[data-testid=zone-chip]")).toHaveLength(2);
  });

  it("closes the stream when the page is left", async () => {
    const cloud = fakeCloud(firstReport);
    renderEventPage(cloud);
    const stream = await openedStream();
    act(() => stream.open());
    page.unmount();
    expect(stream.closed).toBe(true);
  });
});
