// Guardian's service worker (registered by src/push/push.ts at /sw.js, scope "/"): it only handles push
// notifications. A push carries what the cloud has of an event and nothing more (label, camera name,
// zones, start time, event id, its review item's key, the event page's path); the picture is fetched
// through the relay when the page opens. Clicking the notification opens (or focuses) that page. The cloud
// pushes once per review item and member; should a second push of an item arrive all the same (a delivery
// the push service retried), it replaces the first quietly instead of adding a notification.
/* eslint-env serviceworker */

const EVENT_PATH = /^\/events\/[A-Za-z0-9-]{1,64}$/;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => event.waitUntil(show(event.data)));

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openPage(pathOf(event.notification.data)));
});

function parse(data) {
  try {
    const item = data ? data.json() : null;
    return item && typeof item.event_id === "string" ? item : null;
  } catch {
    return null;
  }
}

function labelText(label) {
  const text = String(label || "Activity").replace(/[_-]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function pathOf(data) {
  const url = data && typeof data.url === "string" ? data.url : "";
  return EVENT_PATH.test(url) ? url : "/events";
}

async function show(data) {
  const item = parse(data);
  if (!item) {
    // Browsers require a notification for every push; one we cannot read still says something happened.
    await self.registration.showNotification("Guardian", { body: "Something happened at home.", data: { url: "/events" } });
    return;
  }
  const start = new Date(item.start);
  const time = Number.isNaN(start.getTime()) ? "" : start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const zones = Array.isArray(item.zones) && item.zones.length ? ` · ${item.zones.join(", ")}` : "";
  const title = `${labelText(item.label)} · ${item.camera}`;
  const url = pathOf(item);
  const key = itemKey(item);
  await self.registration.showNotification(title, {
    body: `${time}${zones}`.replace(/^ · /, ""),
    tag: key, // a later push of the same review item replaces it…
    renotify: false, // …without ringing again
    timestamp: Number.isNaN(start.getTime()) ? Date.now() : start.getTime(),
    icon: "/icons/icon-192.png",
    badge: "/icons/badge-96.png",
    data: { url, event_id: item.event_id, review_item: key },
  });
  // Open pages hear of it too (they may refresh a list); nothing else is sent anywhere.
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    client.postMessage({ type: "guardian-push", event_id: item.event_id, review_item: key, title, url });
  }
}

// The review item the event belongs to (an older cloud's push names none: the event is its own item).
function itemKey(item) {
  const key = typeof item.review_item === "string" ? item.review_item : "";
  return /^[A-Za-z0-9-]{1,64}$/.test(key) ? key : item.event_id;
}

async function openPage(path) {
  const url = new URL(path, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin !== self.location.origin) continue;
    const shown = client.url === url ? client : await client.navigate(url).catch(() => null);
    if (shown) return shown.focus();
  }
  return self.clients.openWindow(url);
}
