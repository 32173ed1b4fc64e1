// @vitest-environment happy-dom
// The Cameras page edits a device's desired configuration: a login typed into the address is split off and
// sealed to the device's key (the PUT holds no password), a version conflict reloads and says so, each
// camera shows what the device made of it, and its detection tiles and detail (input size) are chosen from lists with their cost.
import { act } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import type { CameraConfig, DeviceConfig } from "../api/deviceConfig";
import type { CameraPublic, DevicePublic, UserPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { sodium } from "../crypto/seal";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { CamerasPage } from "./Cameras";

const PASSWORD = "Gr3en-Parrot-Lantern";
const admin = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1" } as UserPublic;
const device: DevicePublic = {
  id: "edge-home", name: "Hall cupboard", status: "healthy", reason: "", agent_version: "0.1.0",
  last_seen_at: "2026-01-01T00:00:00Z", desired_config_version: 0, applied_config_version: 0,
};
const porch: CameraConfig = {
  name: "porch", display_name: "Porch", enabled: true, retention_days: 0, record: { url: "rtsp://10.0.0.7/porch" },
  detection: { labels: [], thresholds: [], min_area: 0, zones: [], masks: [], input_size: 0 },
};

function config(version: number, cameras: CameraConfig[], change: Partial<DeviceConfig> = {}): DeviceConfig {
  return {
    device_id: device.id, version, created_at: null, cameras, config_key: null,
    reported: { applied_version: 0, refused_version: 0, refused_reason: "", cameras: [], reported_at: null },
    ...change,
  };
}

/** The cloud's side, played in memory: it holds configs and records every PUT body as sent. */
function fakeCloud(initial: DeviceConfig) {
  const state = {
    config: initial, puts: [] as string[], conflictOnce: null as DeviceConfig | null, configReads: 0,
    cameras: [] as CameraPublic[],
  };
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/users/me") return json(admin);
    if (call === "GET /api/v1/tenant") return json({ id: "t1", name: "Home", plan: "free", relay_id: "r1", relay_url: null, relay_enrolment_endpoint: null });
    if (call === "GET /api/v1/devices") return json([device]);
    if (call === "GET /api/v1/cameras") return json(state.cameras);
    if (call === "PATCH /api/v1/cameras/cam-1") {
      // The cloud renames a camera of the config in a new version of it too (cloud/services/device_config.py).
      const { display_name } = JSON.parse(String(init?.body)) as { display_name: string };
      state.cameras = state.cameras.map((c) => ({ ...c, display_name }));
      state.config = {
        ...state.config, version: state.config.version + 1,
        cameras: state.config.cameras.map((c) => (c.name === "porch" ? { ...c, display_name } : c)),
      };
      return json(state.cameras[0]);
    }
    if (call === "GET /api/v1/devices/edge-home/config") {
      state.configReads += 1;
      return json(state.config);
    }
    if (call === "PUT /api/v1/devices/edge-home/config") {
      state.puts.push(String(init?.body));
      if (state.conflictOnce) {
        state.config = state.conflictOnce;
        state.conflictOnce = null;
        return json({ error: { code: "version_conflict", message: "the configuration was changed meanwhile" } }, 409);
      }
      const body = JSON.parse(String(init?.body)) as { base_version: number; cameras: CameraConfig[] };
      expect(body.base_version).toBe(state.config.version);
      state.config = { ...state.config, version: state.config.version + 1, cameras: body.cameras };
      return json(state.config, 201);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  return { state, fetch };
}

let page: Mounted;
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);

async function render(initial: DeviceConfig, cameras: CameraPublic[] = []) {
  const cloud = fakeCloud(initial);
  cloud.state.cameras = cameras;
  const api = createApi(new ApiClient({ fetch: cloud.fetch }));
  const services = { ...createServices(api), session: new SessionStore(api, { present: () => true, clear: () => {} }) };
  await services.session.load();
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter>
        <CamerasPage />
      </MemoryRouter>
    </ServicesProvider>,
  );
  await until(() => page.$("[data-testid=config-versions]"), "the device's configuration");
  return cloud.state;
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

/** Type into a field as a person does (React reads the native value setter and the input event). */
function type(label: string, value: string) {
  const field = input(label);
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(field, value);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

/** Pick an option of a select as a person does (React listens to its change event). */
function choose(label: string, value: string) {
  const field = input(label) as unknown as HTMLSelectElement;
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value")!.set!.call(field, value);
    field.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

function leave(label: string) {
  act(() => input(label).dispatchEvent(new FocusEvent("focusout", { bubbles: true })));
}

function submit() {
  const form = page.$<HTMLFormElement>("form.camera-form")!;
  act(() => form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
}

afterEach(() => page.unmount());

describe("cameras page: desired configuration", () => {
  it("splits a login typed into the address and sends it sealed to the device's key only", async () => {
    const lib = await sodium();
    const pair = lib.crypto_box_keypair();
    const variant = lib.base64_variants.URLSAFE_NO_PADDING;
    const key = { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) };
    const state = await render(config(0, [], { config_key: key }));
    expect(page.container.textContent).toContain("Hall cupboard");

    act(() => button("Add a camera to Hall cupboard").click());
    type("Camera name", "Front door");
    expect(input("Short name on the device").value).toBe("front-door");
    type("Stream address", `rtsp://admin:${PASSWORD}@192.168.1.20:554/stream1`);
    leave("Stream address");
    expect(input("Stream address").value).toBe("rtsp://192.168.1.20:554/stream1");
    expect(input("User name").value).toBe("admin");
    expect(input("Password").value).toBe(PASSWORD);
    expect(page.container.textContent).toContain("taken out of the address into their own fields");
    submit();
    await until(() => page.container.textContent?.includes("Saved as version 1") && page.container, "the saved notice");

    expect(state.puts).toHaveLength(1);
    const sent = state.puts[0]!;
    expect(sent).not.toContain(PASSWORD);
    const body = JSON.parse(sent) as { base_version: number; cameras: CameraConfig[] };
    expect(body.base_version).toBe(0);
    const camera = body.cameras[0]!;
    expect(camera.record.url).toBe("rtsp://192.168.1.20:554/stream1");
    expect(camera.record.credentials!.key_id).toBe(key.key_id);
    const opened = lib.crypto_box_seal_open(lib.from_base64(camera.record.credentials!.ciphertext, variant), pair.publicKey, pair.privateKey, "text");
    expect(opened).toBe(`admin:${PASSWORD}`);
    expect(page.$("[data-camera=front-door] [data-testid=apply-state]")!.textContent).toBe("Pending");
  });

  it("says the device must connect first, refuses a password then, and saves without one", async () => {
    const state = await render(config(0, []));
    expect(page.$("[data-testid=device-not-connected]")!.textContent).toContain("has not sent its key for camera logins yet");
    act(() => button("Add camera").click());
    expect(page.$("[data-testid=no-config-key]")).not.toBeNull();
    type("Camera name", "Garden");
    type("Stream address", "rtsp://viewer:pw@10.0.0.9/live");
    submit();
    await until(() => page.container.textContent?.includes("a password cannot be sealed for it") && page.container, "the problem");
    expect(state.puts).toHaveLength(0);
    type("User name", "");
    type("Password", "");
    submit();
    await until(() => state.puts.length === 1 && page.container.textContent?.includes("Saved as version 1"), "the save");
    expect(JSON.parse(state.puts[0]!).cameras[0].record).toEqual({ url: "rtsp://10.0.0.9/live" });
  });

  it("reads the device's configuration again after a camera is renamed in the reported list", async () => {
    const reported: CameraPublic = {
      id: "cam-1", device_id: device.id, name: "porch", display_name: "Porch", state: "streaming", last_frame_at: null,
    };
    const cloud = await render(config(1, [porch]), [reported]);
    const reads = cloud.configReads;
    act(() => button("Rename Porch").click());
    type("New name", "Front door");
    const form = page.$<HTMLFormElement>("form.inline-form")!;
    act(() => form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
    await until(() => cloud.configReads > reads && page.$("[data-testid=config-versions]")?.textContent?.includes("Configuration version 2"),
                "the renamed version");
    // The camera form now edits version 2, so its next save is not a version conflict.
    expect(cloud.config.version).toBe(2);
  });

  it("asks again until the device has applied the newest version, then shows what it did and stops asking", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const state = await render(config(1, [porch]));
      expect(page.$("[data-camera=porch] [data-testid=apply-state]")!.textContent).toBe("Pending");
      const reads = state.configReads;
      await act(async () => { vi.advanceTimersByTime(5_000); });
      await until(() => state.configReads === reads + 1, "still pending: asked again");
      state.config = config(1, [porch], {
        reported: { applied_version: 1, refused_version: 0, refused_reason: "", reported_at: "2026-01-01T00:00:00Z",
                    cameras: [{ camera: "porch", state: "applied", error: "" }] },
      });
      await act(async () => { vi.advanceTimersByTime(5_000); });
      await until(() => page.$("[data-camera=porch] [data-testid=apply-state]")?.textContent === "Applied", "the applied state");
      const settled = state.configReads;
      await act(async () => { vi.advanceTimersByTime(20_000); });
      expect(state.configReads).toBe(settled); // applied: nothing left to wait for
    } finally {
      vi.useRealTimers();
    }
  });

  it("reloads on a version conflict, tells the person, and saves on the newer version", async () => {
    const state = await render(config(3, [porch]));
    state.conflictOnce = config(4, [porch, { ...porch, name: "garage", display_name: "Garage" }]);
    act(() => button("Edit Porch").click());
    type("Camera name", "Front porch");
    submit();
    await until(() => page.container.textContent?.includes("Someone else changed this device's cameras") && page.container, "the conflict");
    expect(page.$("[data-camera=garage]")).not.toBeNull(); // the newer version is shown
    expect(input("Camera name").value).toBe("Front porch"); // and the edit is kept
    submit();
    await until(() => page.container.textContent?.includes("Saved as version 5"), "the second save");
    const body = JSON.parse(state.puts[1]!) as { base_version: number; cameras: CameraConfig[] };
    expect(body.base_version).toBe(4);
    expect(body.cameras.map((c) => [c.name, c.display_name])).toEqual([["porch", "Front porch"], ["garage", "Garage"]]);
  });

  it("shows each camera's state with the device's own error, and disables and removes", async () => {
    const garage = { ...porch, name: "garage", display_name: "Garage" };
    const state = await render(config(2, [porch, garage], {
      reported: {
        applied_version: 2, refused_version: 0, refused_reason: "", reported_at: "2026-01-01T00:00:00Z",
        cameras: [{ camera: "porch", state: "applied", error: "" }, { camera: "garage", state: "failed", error: "RTSP 401 Unauthorized from 10.0.0.7" }],
      },
    }));
    expect(page.$("[data-camera=porch] [data-testid=apply-state]")!.textContent).toBe("Applied");
    expect(page.$("[data-camera=garage] [data-testid=apply-state]")!.textContent).toBe("Failed");
    expect(page.$("[data-camera=garage] [data-testid=apply-error]")!.textContent).toBe("RTSP 401 Unauthorized from 10.0.0.7");

    act(() => button("Disable Porch").click());
    await until(() => state.puts.length === 1 && page.container.textContent?.includes("Saved as version 3"), "the disable");
    expect(JSON.parse(state.puts[0]!).cameras[0].enabled).toBe(false);
    expect(page.$("[data-camera=porch] [data-testid=apply-state]")!.textContent).toBe("Pending");

    window.confirm = () => true;
    act(() => button("Remove Garage").click());
    await until(() => state.puts.length === 2 && page.container.textContent?.includes("Saved as version 4"), "the removal");
    expect(JSON.parse(state.puts[1]!).cameras.map((c: CameraConfig) => c.name)).toEqual(["porch"]);
  });

  it("sets a camera's detection tiles with their cost, and the whole frame again removes them", async () => {
    const state = await render(config(1, [porch]));
    act(() => button("Edit Porch").click());
    const tiles = input("Detection tiles") as unknown as HTMLSelectElement;
    expect(tiles.value).toBe("");
    expect([...tiles.options].map((o) => o.textContent)).toEqual(["Whole frame", "2×1", "2×2", "3×2", "3×3", "4×3", "4×4"]);
    const hint = () => page.$(`#${CSS.escape(tiles.getAttribute("aria-describedby")!)}`)!.textContent;
    expect(hint()).toContain("now 1 per frame");
    choose("Detection tiles", "2x2");
    expect(hint()).toContain("one more inference");
    expect(hint()).toContain("now 5 per frame");
    submit();
    await until(() => state.puts.length === 1 && page.container.textContent?.includes("Saved as version 2"), "the save");
    expect(JSON.parse(state.puts[0]!).cameras[0].detection.tiles).toEqual({ columns: 2, rows: 2, overlap: 0.2 });

    act(() => button("Edit Porch").click());
    expect((input("Detection tiles") as unknown as HTMLSelectElement).value).toBe("2x2");
    choose("Detection tiles", "");
    submit();
    await until(() => state.puts.length === 2 && page.container.textContent?.includes("Saved as version 3"), "the second save");
    expect(JSON.parse(state.puts[1]!).cameras[0].detection).not.toHaveProperty("tiles");
  });

  it("sets a camera's detail (input size) with its cost, and the default again sends 0", async () => {
    const state = await render(config(1, [porch]));
    act(() => button("Edit Porch").click());
    const detail = input("Detail") as unknown as HTMLSelectElement;
    expect(detail.value).toBe("");
    expect([...detail.options].map((o) => o.textContent)).toEqual(["Default", "320", "416", "512", "640"]);
    const hint = page.$(`#${CSS.escape(detail.getAttribute("aria-describedby")!)}`)!.textContent;
    expect(hint).toContain("smaller, more distant people");
    expect(hint).toContain("640 for the shipped one"); // what "Default" means, and what a smaller input saves
    expect(hint).toContain("416 costs about half the CPU");
    choose("Detail", "640");
    submit();
    await until(() => state.puts.length === 1 && page.container.textContent?.includes("Saved as version 2"), "the save");
    expect(JSON.parse(state.puts[0]!).cameras[0].detection.input_size).toBe(640);

    act(() => button("Edit Porch").click());
    expect((input("Detail") as unknown as HTMLSelectElement).value).toBe("640");
    choose("Detail", "");
    submit();
    await until(() => state.puts.length === 2 && page.container.textContent?.includes("Saved as version 3"), "the second save");
    expect(JSON.parse(state.puts[1]!).cameras[0].detection.input_size).toBe(0);
  });

  it("chooses what alerts in the alert zones, next to them, and none ticked again removes it", async () => {
    const driveway = { name: "driveway", points: [{ x: 0.5, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }] };
    const zoned = { ...porch, detection: { ...porch.detection!, zones: [driveway], alert_zones: ["driveway"] } };
    const state = await render(config(1, [zoned]));
    act(() => button("Edit Porch").click());
    const alertOn = (label: string) => {
      const found = [...page.container.querySelectorAll("fieldset.alert-labels label")].find((l) => l.textContent === label);
      if (!found) throw new Error(`no alert label ${label}`);
      return found.querySelector("input")!;
    };
    expect(page.$("fieldset.alert-labels legend")!.textContent).toBe("Alert on");
    expect(alertOn("Person").checked).toBe(false); // none ticked: a person or any vehicle
    act(() => alertOn("Dog").click());
    act(() => alertOn("Car").click());
    submit();
    await until(() => state.puts.length === 1 && page.container.textContent?.includes("Saved as version 2"), "the save");
    const detection = JSON.parse(state.puts[0]!).cameras[0].detection;
    expect(detection.alert_labels).toEqual(["car", "dog"]); // in the labels' order
    expect(detection.alert_zones).toEqual(["driveway"]);

    act(() => button("Edit Porch").click());
    expect(alertOn("Dog").checked).toBe(true);
    act(() => alertOn("Dog").click());
    act(() => alertOn("Car").click());
    submit();
    await until(() => state.puts.length === 2 && page.container.textContent?.includes("Saved as version 3"), "the second save");
    expect(JSON.parse(state.puts[1]!).cameras[0].detection).not.toHaveProperty("alert_labels");
  });
});
