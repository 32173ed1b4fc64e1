// The service worker (public/sw.js) as the browser runs it: its own script, evaluated in a scope that stands in
// for ServiceWorkerGlobalScope (registration, clients). The scope keeps notifications by tag as browsers do (a
// notification with the tag of a shown one replaces it); tests/ui/test_push_notifications.py delivers a real
// push to the worker in Chromium.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";

const SOURCE = readFileSync(resolve(import.meta.dirname, "../../public/sw.js"), "utf8");
const ORIGIN = "https://guardian.example.org";

interface Shown {
  title: string;
  options: NotificationOptions & { renotify?: boolean; data?: Record<string, string> };
}

type Listener = (event: Record<string, unknown>) => void;

function worker() {
  const listeners = new Map<string, Listener>();
  const shown: Shown[] = []; // every call, in order
  const tray = new Map<string, Shown>(); // what the user sees: one notification per tag
  const opened: string[] = [];
  const posted: unknown[] = [];
  const self = {
    location: { origin: ORIGIN },
    addEventListener: (type: string, listener: Listener) => listeners.set(type, listener),
    skipWaiting: () => Promise.resolve(),
    registration: {
      showNotification: (title: string, options: Shown["options"]) => {
        const notification = { title, options };
        shown.push(notification);
        tray.set(options.tag || `untagged-${shown.length}`, notification);
        return Promise.resolve();
      },
    },
    clients: {
      claim: () => Promise.resolve(),
      matchAll: () => Promise.resolve([{ url: `${ORIGIN}/cameras`, postMessage: (m: unknown) => posted.push(m),
        navigate: (url: string) => { opened.push(url); return Promise.resolve({ focus: () => Promise.resolve() }); } }]),
      openWindow: (url: string) => { opened.push(url); return Promise.resolve(null); },
    },
  };
  runInNewContext(SOURCE, { self, URL, Date });

  async function dispatch(type: string, event: Record<string, unknown>): Promise<void> {
    const pending: Promise<unknown>[] = [];
    listeners.get(type)?.({ ...event, waitUntil: (p: Promise<unknown>) => pending.push(p) });
    await Promise.all(pending);
  }
  return {
    shown, tray, opened, posted,
    push: (payload: unknown) => dispatch("push", { data: { json: () => payload } }),
    click: (notification: Shown) =>
      dispatch("notificationclick", { notification: { close: () => {}, data: notification.options.data } }),
  };
}

const ITEM = "8a4c0bd0-0d6c-4b55-9a57-1c2f7f04c1a2";

// ``reviewItem`` null: an older cloud's push, which names no item.
function payload(eventId: string, label: string, reviewItem: string | null = ITEM) {
  return { event_id: eventId, ...(reviewItem === null ? {} : { review_item: reviewItem }), label, camera: "Front porch",
           zones: ["door"], start: "2026-12-02T05:04:18Z", url: `/events/${eventId}` };
}

describe("the service worker's notifications", () => {
  it("shows one notification per review item: a second push of the item replaces the first without ringing", async () => {
    const sw = worker();
    await sw.push(payload("e-1", "person"));
    await sw.push(payload("e-2", "car"));
    expect(sw.shown.map((n) => [n.options.tag, n.options.renotify])).toEqual([[ITEM, false], [ITEM, false]]);
    expect([...sw.tray.values()].map((n) => n.title)).toEqual(["Car · Front porch"]);
    expect(sw.posted).toContainEqual(
      expect.objectContaining({ type: "guardian-push", event_id: "e-2", review_item: ITEM }));
  });

  it("keeps pushes of other items apart, and an event without an item is one of its own", async () => {
    const sw = worker();
    await sw.push(payload("e-1", "person"));
    await sw.push(payload("e-3", "person", "0f675eaf-242c-46a3-a070-26bd272c4189"));
    await sw.push(payload("e-4", "person", null));
    await sw.push(payload("e-5", "person", "not a key; <script>"));
    expect([...sw.tray.keys()]).toEqual([ITEM, "0f675eaf-242c-46a3-a070-26bd272c4189", "e-4", "e-5"]);
  });

  it("opens the item's page when the notification is clicked", async () => {
    const sw = worker();
    await sw.push(payload("e-1", "person"));
    await sw.push(payload("e-2", "person"));
    const [notification] = [...sw.tray.values()];
    expect(notification?.options.data).toEqual({ url: "/events/e-2", event_id: "e-2", review_item: ITEM });
    await sw.click(notification!);
    expect(sw.opened).toEqual([`${ORIGIN}/events/e-2`]);
  });
});
