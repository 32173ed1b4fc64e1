// @vitest-environment happy-dom
// The operator's fleet page: relays and devices of every tenant with their status, versions and alerts;
// the status filter; Alertmanager unavailable is said, not hidden; the nav offers the page to operators only.
import { act } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, createApi } from "../api";
import type { FleetDevicePublic, FleetPublic, TenantPublic, UserPublic } from "../api/types";
import { Layout } from "../components/Layout";
import { createServices, ServicesProvider } from "../context";
import { filterDevices } from "../state/fleet";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { FleetPage } from "./Fleet";

const operator = { id: "op", email: "ops@example.org", role: "admin", tenant_id: null, is_operator: true } as UserPublic;
const member = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1", is_operator: false } as UserPublic;
const tenant: TenantPublic = { id: "t1", name: "Home", plan: "free", relay_id: null, relay_url: null, relay_enrolment_endpoint: null };
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

function device(id: string, status: string, extra: Partial<FleetDevicePublic> = {}): FleetDevicePublic {
  return {
    id, tenant_id: "3f0c9a52-7d1e-4c1b-9a8e-0d6f2b1c4e77", relay_id: "r1", status, agent_version: "1.4.2",
    desired_config_version: 3, applied_config_version: 3, last_seen_at: minutesAgo(3), cameras_up: 2,
    cameras_down: 0, cameras_total: 2, alerts: [], ...extra,
  };
}

const FLEET: FleetPublic = {
  relays: [
    { id: "r1", name: "relay-eu-1", endpoint_url: "https://relay-eu-1.example.org", tenant_id: "3f0c9a52-7d1e-4c1b-9a8e-0d6f2b1c4e77",
      status: "online", last_seen_at: minutesAgo(0), agent_version: "1.4.2", devices: 2, alerts: [] },
    { id: "r2", name: "relay-eu-2", endpoint_url: "https://relay-eu-2.example.org", tenant_id: null,
      status: "silent", last_seen_at: minutesAgo(12), agent_version: "", devices: 0,
      alerts: [{ name: "GuardianRelayDown", severity: "critical", summary: "Relay r2 has not called the cloud", runbook_url: "", starts_at: minutesAgo(9) }] },
  ],
  devices: [
    device("edge-kitchen", "healthy"),
    device("edge-garage", "offline", {
      last_seen_at: minutesAgo(45), cameras_up: 0, cameras_down: 1, cameras_total: 1, applied_config_version: 2,
      alerts: [{ name: "GuardianEdgeOffline", severity: "warning", summary: "Edge edge-garage is offline", runbook_url: "docs/runbooks.md#edge-offline", starts_at: minutesAgo(40) }],
    }),
  ],
  other_alerts: [],
  alertmanager_configured: true,
  alerts_error: null,
  generated_at: new Date().toISOString(),
};

function fakeCloud(user: UserPublic, fleet: FleetPublic) {
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  return async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/users/me") return json(user);
    if (call === "GET /api/v1/tenant") return json(tenant);
    if (call === "GET /api/v1/fleet") {
      return user.is_operator ? json(fleet) : json({ error: { code: "forbidden", message: "operator role required" } }, 403);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
}

let page: Mounted;
afterEach(() => page.unmount());
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);

async function render(user: UserPublic, fleet: FleetPublic = FLEET) {
  const api = createApi(new ApiClient({ fetch: fakeCloud(user, fleet) }));
  const services = { ...createServices(api), session: new SessionStore(api, { present: () => true, clear: () => {} }) };
  await services.session.load();
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter initialEntries={["/fleet"]}>
        <Routes>
          <Route element={<Layout />}>
            <Route path="fleet" element={<FleetPage />} />
          </Route>
        </Routes>
      </MemoryRouter>
    </ServicesProvider>,
  );
}

const rows = () => [...page.container.querySelectorAll<HTMLElement>("[data-testid=devices] tbody tr")];

describe("fleet page", () => {
  it("lists relays and devices with status, versions, last report and their alerts", async () => {
    await render(operator);
    await until(() => rows().length === 2, "two device rows");
    const relays = page.$("[data-testid=relays]")!.textContent!;
    expect(relays).toContain("relay-eu-1");
    expect(relays).toContain("1.4.2");
    expect(relays).toContain("Online");
    expect(relays).toContain("Silent");
    expect(relays).toContain("RelayDown");
    expect(relays).toContain("In the pool");
    const garage = page.$("[data-device=edge-garage]")!.textContent!;
    expect(garage).toContain("Offline");
    expect(garage).toContain("45 minutes ago");
    expect(garage).toContain("1 down");
    expect(garage).toContain("v2 of 3");
    expect(garage).toContain("EdgeOffline");
    expect(garage).toContain("Edge edge-garage is offline");
    expect(garage).toContain("relay-eu-1");
    expect(page.$("[data-device=edge-kitchen]")!.textContent).toContain("3 minutes ago");
    expect(page.$("[data-testid=fleet-summary]")!.textContent).toContain("2 relays · 2 devices · 2 firing alerts");
    expect(page.$("[data-testid=alerts-error]")).toBeNull();
  });

  it("filters devices by status", async () => {
    await render(operator);
    await until(() => rows().length === 2, "two device rows");
    const select = page.$<HTMLSelectElement>("[data-testid=device-filter]")!;
    const choose = async (value: string) => {
      await act(async () => {
        select.value = value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      });
    };
    await choose("offline");
    expect(rows().map((r) => r.dataset.device)).toEqual(["edge-garage"]);
    await choose("healthy");
    expect(rows().map((r) => r.dataset.device)).toEqual(["edge-kitchen"]);
    await choose("degraded");
    expect(page.container.textContent).toContain("No device matches");
    // Needs attention: not healthy, a camera down, or an alert, even on a healthy device.
    const alerting = device("edge-attic", "healthy", { alerts: FLEET.devices[1]!.alerts });
    expect(filterDevices([...FLEET.devices, alerting], "attention").map((d) => d.id)).toEqual(["edge-garage", "edge-attic"]);
  });

  it("says when Alertmanager cannot be read, and still shows the fleet", async () => {
    await render(operator, { ...FLEET, alerts_error: "Alertmanager unreachable (ConnectError)" });
    const notice = await until(() => page.$("[data-testid=alerts-error]"), "the alerts notice");
    expect(notice.textContent).toContain("Alertmanager unreachable (ConnectError)");
    expect(rows()).toHaveLength(2);
  });

  it("is in the nav for operators only", async () => {
    await render(operator);
    await until(() => rows().length === 2, "the page");
    const nav = () => [...page.container.querySelectorAll("nav a")].map((a) => a.textContent);
    expect(nav()).toEqual(["Fleet"]);
    page.unmount();
    await render(member);
    await until(() => page.container.textContent?.includes("The fleet could not be loaded"), "the refusal");
    expect(nav()).not.toContain("Fleet");
    expect(nav()).toContain("Devices");
  });
});
