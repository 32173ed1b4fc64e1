// @vitest-environment happy-dom
// A timeline row's thumbnail: an open event has none yet (the relay answers 404, the <img> fails and the
// row shows the label's initial); when a later version of the event arrives (it ended), the row asks again.
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApi } from "../api";
import type { EventPublic } from "../api/types";
import { createServices, ServicesProvider, type AppServices } from "../context";
import { MediaTokens } from "../state/mediaTokens";
import { createRoot } from "react-dom/client";
import { mount, settle, until, type Mounted } from "../testDom";
import { Thumbnail } from "./Thumbnail";

const open: EventPublic = {
  id: "e1", device_id: "dev-1", camera: "campus", label: "person", start_at: "2026-12-02T10:00:00Z", end_at: null,
  confidence: "high", has_clip: false, zones: [], severity: "detection",
} as EventPublic;

class SeeEverything {
  constructor(private readonly callback: (entries: { isIntersecting: boolean }[]) => void) {}
  observe() {
    this.callback([{ isIntersecting: true }]);
  }
  disconnect() {}
}

let page: Mounted;
let services: AppServices;

beforeEach(() => {
  page = mount(null);
  vi.stubGlobal("IntersectionObserver", SeeEverything);
  services = createServices(createApi());
  let n = 0;
  services.media = new MediaTokens(async (eventId) => ({
    token: `t${++n}`, relay_url: "https://relay.example", expires_at: new Date(Date.now() + 300_000).toISOString(),
    event_id: eventId, scopes: ["thumbnail"],
  }) as never);
});

afterEach(() => {
  page.unmount();
  vi.unstubAllGlobals();
});

function render(event: EventPublic) {
  return <ServicesProvider services={services}><Thumbnail event={event} enabled /></ServicesProvider>;
}

describe("Thumbnail", () => {
  it("asks again when a later version of its event arrives, in place", async () => {
    const root = createRoot(page.container);
    act(() => root.render(render(open)));
    const first = await until(page, () => page.$<HTMLImageElement>("img"), "the thumbnail");
    const firstSrc = first.getAttribute("src")!;
    expect(firstSrc).toContain("/media/v1/events/e1/thumbnail.jpg?token=");
    act(() => first.dispatchEvent(new Event("error"))); // the relay's 404: no thumbnail yet
    await until(page, () => page.$("[data-thumb-state=failed] .thumb-fallback"), "the fallback");

    // A repeat of the same version (the stream may send one twice): the fallback stays, nothing is asked.
    act(() => root.render(render({ ...open })));
    await settle();
    expect(page.$("img")).toBeNull();

    // The event ended: the row asks again, and the picture loads.
    act(() => root.render(render({ ...open, end_at: "2026-12-02T10:00:08Z" })));
    const second = await until(page, () => page.$<HTMLImageElement>("img"), "the thumbnail, again");
    expect(second.getAttribute("src")).not.toBe(firstSrc);
    act(() => second.dispatchEvent(new Event("load")));
    await until(page, () => page.$("[data-thumb-state=loaded]"), "the loaded thumbnail");
    act(() => root.unmount());
  });
});
