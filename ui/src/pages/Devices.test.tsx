// @vitest-environment happy-dom
// A new home has no relay: the Devices page says it comes with the first device, creating the first
// enrolment token assigns it (the cloud does) and the steps then name it; an empty pool is explained.
import { act } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, createApi } from "../api";
import type { BootstrapTokenIssued, DevicePublic, TenantPublic, UserPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { DevicesPage } from "./Devices";

const user = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1" } as UserPublic;
const noRelay: TenantPublic = { id: "t1", name: "Home", plan: "free", relay_id: null, relay_url: null, relay_enrolment_endpoint: null };
const withRelay: TenantPublic = { ...noRelay, relay_id: "r1", relay_url: "https://relay-1.example.org", relay_enrolment_endpoint: "relay-1.example.org:443" };

function fakeCloud(poolEmpty: boolean, devices: DevicePublic[] = []) {
  let tenant = noRelay;
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/users/me") return json(user);
    if (call === "GET /api/v1/tenant") return json(tenant);
    if (call === "GET /api/v1/devices") return json(devices);
    if (call === "GET /api/v1/bootstrap-tokens") return json([]);
    if (call === "POST /api/v1/bootstrap-tokens") {
      if (poolEmpty) {
        return json({ error: { code: "relay_pool_empty", message: "no relay is free for your home yet" } }, 503);
      }
      tenant = withRelay;
      const issued: BootstrapTokenIssued = {
        id: "n1", label: "", created_at: "2026-01-01T00:00:00Z", expires_at: "2099-01-01T00:00:00Z",
        used_at: null, revoked_at: null, token: "gt1.secret",
      } as BootstrapTokenIssued;
      return json(issued, 201);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  return { fetch };
}

let page: Mounted;

async function renderDevices(poolEmpty: boolean, devices: DevicePublic[] = []) {
  const api = createApi(new ApiClient({ fetch: fakeCloud(poolEmpty, devices).fetch }));
  const services = { ...createServices(api), session: new SessionStore(api, { present: () => true, clear: () => {} }) };
  await services.session.load();
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter>
        <DevicesPage />
      </MemoryRouter>
    </ServicesProvider>,
  );
}

const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);

async function createToken() {
  const button = await until(() => page.$<HTMLButtonElement>("form.inline-form button[type=submit]"), "the token form");
  await act(async () => button.click());
}

afterEach(() => page.unmount());

describe("devices page without a relay", () => {
  it("says the relay comes with the first device, then names it once the first token assigned it", async () => {
    await renderDevices(false);
    const note = await until(() => page.$("[data-testid=relay-pending]"), "the relay note");
    expect(note.textContent).toContain("Your relay is assigned when you add your first device");
    await createToken();
    const steps = await until(() => page.$(".issued"), "the issued token");
    await until(() => steps.textContent?.includes("--relay relay-1.example.org:443 ") && steps, "the relay in the steps");
    expect(page.$("[data-testid=relay-pending]")).toBeNull();
  });

  it("explains an empty relay pool", async () => {
    await renderDevices(true);
    await createToken();
    const notice = await until(() => page.container.textContent?.includes("No relay is free") && page.container, "the error");
    expect(notice.textContent).toContain("Try adding the device again later");
  });
});

describe("devices page: camera setup versions", () => {
  const base: DevicePublic = {
    id: "edge-a", name: "", status: "healthy", reason: "", agent_version: "0.1.0", last_seen_at: "2026-01-01T00:00:00Z",
    desired_config_version: 0, applied_config_version: 0,
  };

  it("shows the desired camera setup against the one each device applied", async () => {
    await renderDevices(false, [
      base,
      { ...base, id: "edge-b", desired_config_version: 3, applied_config_version: 2 },
      { ...base, id: "edge-c", desired_config_version: 4, applied_config_version: 4 },
    ]);
    await until(() => [...page.container.querySelectorAll("[data-testid=config-state]")].length === 3, "the devices");
    expect([...page.container.querySelectorAll("[data-testid=config-state]")].map((cell) => cell.textContent)).toEqual([
      "Settings file", "Version 2 of 3 appliedCameras", "Version 4 appliedCameras",
    ]);
  });
});
