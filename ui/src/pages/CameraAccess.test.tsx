// @vitest-environment happy-dom
// The Cameras page through the relay (camera-access contract): "Find cameras" asks the cloud for a discover
// token and the relay for the search, shows progress and the cameras found, prefills the add form from the
// one picked; "Test connection" sends the login sealed to the device's key (never in the clear) and shows
// the codec or the exact error; relay failures are said plainly; pictures show, or say why not.
import { act } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, createApi } from "../api";
import type { DiscoveredCamera } from "../api/cameraAccess";
import type { CameraConfig, DeviceConfig } from "../api/deviceConfig";
import type { CameraPublic, DevicePublic, UserPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { sodium } from "../crypto/seal";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { CamerasPage } from "./Cameras";

const PASSWORD = "Gr3en-Parrot-Lantern";
const RELAY = "https://relay-a.relays.example.org";
const admin = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1" } as UserPublic;
const device: DevicePublic = {
  id: "edge-home", name: "Hall cupboard", status: "healthy", reason: "", agent_version: "0.1.0",
  last_seen_at: "2026-01-01T00:00:00Z", desired_config_version: 0, applied_config_version: 0,
};
const acme: DiscoveredCamera = {
  address: "http://192.168.1.20:80/onvif/device_service", scopes: [], manufacturer: "Acme", model: "Cam 2",
  firmware: "1.0", serial: null, error: null,
  profiles: [
    { token: "sub", name: "Sub", encoding: "H264", width: 640, height: 360, fps: 15, stream_uri: "rtsp://192.168.1.20:554/sub", snapshot_uri: null },
    { token: "main", name: "Main", encoding: "H264", width: 1920, height: 1080, fps: 15, stream_uri: "rtsp://192.168.1.20:554/main", snapshot_uri: null },
  ],
};
const locked: DiscoveredCamera = {
  address: "http://192.168.1.21/onvif/device_service", manufacturer: null, model: null, profiles: [],
  error: { kind: "auth_failed", detail: "GetProfiles: ter:NotAuthorized" },
};
const other: DiscoveredCamera = { ...acme, address: "http://192.168.1.22/onvif/device_service", model: "Dome" };

function config(change: Partial<DeviceConfig> = {}): DeviceConfig {
  return {
    device_id: device.id, version: 0, created_at: null, cameras: [], config_key: null,
    reported: { applied_version: 0, refused_version: 0, refused_reason: "", cameras: [], reported_at: null },
    ...change,
  };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

/** A promise the test settles when it wants (the relay "still searching"). */
function later<T>() {
  let settle!: (value: T) => void;
  const promise = new Promise<T>((resolve) => { settle = resolve; });
  return { promise, settle };
}

type RelayHandler = (path: string, init: RequestInit | undefined) => Promise<Response> | Response;

/** The cloud and the relay, played in memory; both record what they were asked. */
function network(initial: DeviceConfig, cameras: CameraPublic[] = []) {
  const state = {
    config: initial, puts: [] as string[], tokens: [] as { scopes: string[]; camera: string | null }[],
    relayCalls: [] as { path: string; auth: string | null; body: string | null }[],
    relay: (() => json({ error: "not_found", detail: "no route" }, 404)) as RelayHandler,
  };
  const cloud = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/users/me") return json(admin);
    if (call === "GET /api/v1/tenant") return json({ id: "t1", name: "Home", plan: "free", relay_id: "r1", relay_url: RELAY, relay_enrolment_endpoint: null });
    if (call === "GET /api/v1/devices") return json([device]);
    if (call === "GET /api/v1/cameras") return json(cameras);
    if (call === "GET /api/v1/devices/edge-home/config") return json(state.config);
    if (call === "POST /api/v1/devices/edge-home/access-token") {
      const body = JSON.parse(String(init?.body)) as { scopes: string[]; camera: string | null };
      state.tokens.push(body);
      return json({ token: `tok-${body.scopes.join("+")}`, relay_url: RELAY, scopes: body.scopes, camera: body.camera,
                    expires_at: new Date(Date.now() + 300_000).toISOString() }, 201);
    }
    if (call === "PUT /api/v1/devices/edge-home/config") {
      state.puts.push(String(init?.body));
      const body = JSON.parse(String(init?.body)) as { cameras: CameraConfig[] };
      state.config = { ...state.config, version: state.config.version + 1, cameras: body.cameras };
      return json(state.config, 201);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  const relay = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    expect(url.origin).toBe(RELAY);
    const auth = new Headers(init?.headers).get("Authorization") ?? url.searchParams.get("token");
    state.relayCalls.push({ path: `${init?.method ?? "GET"} ${url.pathname}`, auth, body: init?.body ? String(init.body) : null });
    return state.relay(`${init?.method ?? "GET"} ${url.pathname}`, init);
  };
  return { state, cloud, relay };
}

let page: Mounted;
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);
const shows = (text: string) => page.container.textContent?.includes(text) && page.container;

async function render(initial: DeviceConfig, cameras: CameraPublic[] = []) {
  const net = network(initial, cameras);
  const api = createApi(new ApiClient({ fetch: net.cloud }));
  const services = {
    ...createServices(api), relayFetch: net.relay,
    session: new SessionStore(api, { present: () => true, clear: () => {} }),
  };
  await services.session.load();
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter>
        <CamerasPage />
      </MemoryRouter>
    </ServicesProvider>,
  );
  await until(() => page.$("[data-testid=config-versions]"), "the device's configuration");
  return net.state;
}

function button(name: string): HTMLButtonElement {
  const found = [...page.container.querySelectorAll("button")].find((b) => b.textContent === name || b.getAttribute("aria-label") === name);
  if (!found) throw new Error(`no button ${name}; the page shows: ${page.container.textContent}`);
  return found;
}

function input(label: string): HTMLInputElement {
  const found = [...page.container.querySelectorAll("label")].find((l) => l.textContent === label);
  const field = found && page.container.querySelector<HTMLInputElement>(`#${CSS.escape(found.htmlFor)}`);
  if (!field) throw new Error(`no field ${label}`);
  return field;
}

function type(label: string, value: string) {
  const field = input(label);
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(field, value);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

/** The screen, as IntersectionObserver reports it: the test says when the pictures are on screen. */
const screen = {
  observers: [] as { callback: IntersectionObserverCallback; targets: Element[] }[],
  show(visible: boolean) {
    act(() => {
      for (const o of screen.observers) {
        o.callback(o.targets.map((target) => ({ target, isIntersecting: visible }) as IntersectionObserverEntry), {} as IntersectionObserver);
      }
    });
  },
};
globalThis.IntersectionObserver = class {
  private readonly entry: { callback: IntersectionObserverCallback; targets: Element[] };
  constructor(callback: IntersectionObserverCallback) {
    this.entry = { callback, targets: [] };
    screen.observers.push(this.entry);
  }
  observe(target: Element) { this.entry.targets.push(target); }
  disconnect() { screen.observers = screen.observers.filter((o) => o !== this.entry); }
} as unknown as typeof IntersectionObserver;

afterEach(() => page.unmount());

describe("cameras page: discovery and connection test through the relay", () => {
  it("finds cameras, prefills the form from one, tests it with the sealed login and saves it", async () => {
    const lib = await sodium();
    const pair = lib.crypto_box_keypair();
    const variant = lib.base64_variants.URLSAFE_NO_PADDING;
    const key = { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) };
    const state = await render(config({ config_key: key }));
    const search = later<Response>();
    state.relay = (path) => (path === "POST /media/v1/devices/edge-home/discover" ? search.promise : json({}, 404));

    act(() => button("Find cameras on Hall cupboard's network").click());
    act(() => button("Search now").click());
    await until(() => shows("Searching Hall cupboard's network"), "the progress");
    expect(state.tokens).toEqual([{ scopes: ["discover"], camera: null }]);
    search.settle(json({ took_s: 2.1, cameras: [acme, locked, other] }));
    await until(() => page.$("[data-testid=discovery-count]"), "the cameras found");
    expect(page.$("[data-testid=discovery-count]")!.textContent).toContain("3 cameras found");
    expect(state.relayCalls[0]).toEqual({ path: "POST /media/v1/devices/edge-home/discover", auth: "Bearer tok-discover", body: null });
    expect(page.container.textContent).toContain("1920×1080");
    expect(page.container.textContent).toContain("The camera refused the user name or password. (GetProfiles: ter:NotAuthorized)");

    act(() => button("Add Acme Cam 2 at 192.168.1.20").click());
    expect(input("Camera name").value).toBe("Acme Cam 2 (192.168.1.20)");
    expect(input("Short name on the device").value).toBe("acme-cam-2");
    expect(input("Stream address").value).toBe("rtsp://192.168.1.20:554/main");
    expect(input("Sub-stream for detection (optional)").value).toBe("rtsp://192.168.1.20:554/sub");

    type("User name", "admin");
    type("Password", "wrong");
    state.relay = () => json({ ok: false, error: { kind: "auth_failed", detail: "RTSP 401 Unauthorized" } });
    act(() => button("Test connection").click());
    await until(() => shows("(auth_failed: RTSP 401 Unauthorized)"), "the probe's error");
    expect(page.$("[data-testid=probe-result]")!.textContent).toContain("The camera refused the user name or password.");

    type("Password", PASSWORD);
    state.relay = () => json({ ok: true, codec: "h264", width: 1920, height: 1080, fps: 15.0 });
    act(() => button("Test connection").click());
    await until(() => shows("Works: H264 1920×1080 at 15 fps"), "the probe's success");

    const probes = state.relayCalls.filter((c) => c.path === "POST /media/v1/devices/edge-home/probe");
    expect(probes.map((c) => c.auth)).toEqual(["Bearer tok-probe", "Bearer tok-probe"]);
    for (const probe of probes) expect(probe.body).not.toContain(PASSWORD);
    const sent = JSON.parse(probes[1]!.body!) as { url: string; sealed_credentials: string };
    expect(sent.url).toBe("rtsp://192.168.1.20:554/main");
    const opened = lib.crypto_box_seal_open(lib.from_base64(sent.sealed_credentials, variant), pair.publicKey, pair.privateKey, "text");
    expect(opened).toBe(`admin:${PASSWORD}`);

    act(() => page.$<HTMLFormElement>("form.camera-form")!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
    await until(() => shows("Saved as version 1"), "the save");
    const saved = (JSON.parse(state.puts[0]!) as { cameras: CameraConfig[] }).cameras[0]!;
    expect([saved.name, saved.record.url, saved.detect?.url]).toEqual(["acme-cam-2", "rtsp://192.168.1.20:554/main", "rtsp://192.168.1.20:554/sub"]);
  });

  it("asks a camera that wants a login again with the login sealed, and carries the login into the form", async () => {
    const lib = await sodium();
    const pair = lib.crypto_box_keypair();
    const variant = lib.base64_variants.URLSAFE_NO_PADDING;
    const key = { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) };
    const state = await render(config({ config_key: key }));
    const unlocked: DiscoveredCamera = { ...acme, address: locked.address, model: "Cam 3" };
    const asked: string[] = [];
    state.relay = (path, init) => {
      if (path !== "POST /media/v1/devices/edge-home/discover") return json({}, 404);
      if (!init?.body) return json({ took_s: 2.0, cameras: [locked] });
      const body = JSON.parse(String(init.body)) as { address: string; sealed_credentials: string };
      const login = lib.crypto_box_seal_open(lib.from_base64(body.sealed_credentials, variant), pair.publicKey, pair.privateKey, "text");
      asked.push(`${body.address} ${login}`);
      return json({ took_s: 0.3, cameras: [login === `admin:${PASSWORD}` ? unlocked : locked] });
    };
    act(() => button("Find cameras on Hall cupboard's network").click());
    act(() => button("Search now").click());
    await until(() => page.$("[data-testid=discovery-count]"), "the cameras found");

    type("User name", "admin");
    type("Password", "wrong");
    act(() => page.$<HTMLFormElement>("form.discovered-login")!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
    await until(() => asked.length === 1 && page.$("form.discovered-login button:not([disabled])"), "the first answer");
    expect(page.container.textContent).toContain("The camera refused the user name or password.");
    type("Password", PASSWORD);
    act(() => page.$<HTMLFormElement>("form.discovered-login")!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
    await until(() => shows("1920×1080"), "the camera's streams");
    expect(asked).toEqual([`${locked.address} admin:wrong`, `${locked.address} admin:${PASSWORD}`]);
    expect(state.relayCalls.filter((c) => c.body).every((c) => !c.body!.includes(PASSWORD))).toBe(true);
    expect(page.$("form.discovered-login")).toBeNull();

    act(() => button("Add Acme Cam 3 at 192.168.1.21").click());
    expect(input("Stream address").value).toBe("rtsp://192.168.1.20:554/main");
    expect([input("User name").value, input("Password").value]).toEqual(["admin", PASSWORD]);
  });

  it("says so when the device is offline or the relay cannot be reached", async () => {
    const state = await render(config());
    state.relay = () => json({ error: "edge_offline", detail: "the device is not connected" }, 503);
    act(() => button("Find cameras on Hall cupboard's network").click());
    act(() => button("Search now").click());
    await until(() => shows("The device is offline"), "the offline notice");

    state.relay = () => { throw new TypeError("Failed to fetch"); };
    act(() => button("Try again").click());
    await until(() => shows("Your relay could not be reached"), "the unreachable notice");

    act(() => button("Add a camera to Hall cupboard").click());
    type("Stream address", "rtsp://192.168.1.30/live");
    act(() => button("Test connection").click());
    await until(() => shows("Not tested: Your relay could not be reached"), "the probe's relay error");
    expect(JSON.parse(state.relayCalls.at(-1)!.body!)).toEqual({ url: "rtsp://192.168.1.30/live", sealed_credentials: null });
  });
});

describe("camera pictures", () => {
  const porch: CameraPublic = { id: "c1", device_id: "edge-home", name: "porch", display_name: "Porch", state: "streaming", last_frame_at: null };

  it("shows the picture with when it was taken, else says there is none yet or the camera is offline", async () => {
    const taken = new Date(Date.now() - 3_000).toISOString();
    const relay: { answer: () => Response } = { answer: () => json({ error: "no_picture", detail: "none yet" }, 404) };
    const state = await render(config(), [porch, { ...porch, id: "c2", name: "garage", display_name: "Garage", state: "failed" }]);
    state.relay = (path) => (path.endsWith("/porch/picture.jpg") ? relay.answer() : json({ error: "no_picture", detail: "" }, 404));
    await until(() => page.$("[data-picture=loading]"), "the pictures' frames");
    expect(state.tokens).toEqual([]); // off screen: nothing is asked for
    screen.show(true);
    await until(() => page.$("[data-picture=none]"), "the empty picture");
    expect(page.container.textContent).toContain("No picture yet");
    expect(page.container.textContent).toContain("Camera offline"); // garage: failed, and no picture
    expect(state.tokens).toEqual(expect.arrayContaining([{ scopes: ["picture"], camera: "porch" }, { scopes: ["picture"], camera: "garage" }]));
    expect(state.relayCalls.find((c) => c.path.endsWith("/porch/picture.jpg"))!.auth).toBe("tok-picture");

    relay.answer = () => new Response(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), { status: 200, headers: { "Content-Type": "image/jpeg", "X-Picture-Taken-At": taken } });
    screen.show(false);
    screen.show(true); // back on screen: loaded again at once
    const img = await until(() => page.$<HTMLImageElement>("img[alt='Latest picture from Porch']"), "the picture");
    expect(img.src).toMatch(/^blob:/);
    expect(page.container.textContent).toMatch(/Taken \d+ seconds ago|Taken now/);
  });
});
