// @vitest-environment happy-dom
// "Add a device" once a token is issued: the personalised image's download link (by token id, never the
// token's text) with its size and SHA-256, the first-run steps, the token as a QR code; the script's
// steps when the cloud has no image; and the new device showing up in the list without a reload.
import { act } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import type { BootstrapTokenIssued, DevicePublic, TenantPublic, UserPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { DEVICE_POLL_MS, DevicesPage } from "./Devices";

const SECRET = "eyJ0eXAiOiJndWFyZGlhbi1ib290c3RyYXArand0In0.secret-token-text";
const SHA = "5f".repeat(32);
const user = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1" } as UserPublic;
const tenant: TenantPublic = { id: "t1", name: "Home", plan: "free", relay_id: "r1", relay_url: "https://relay-1.example.org", relay_enrolment_endpoint: "relay-1.example.org:443" };
const device: DevicePublic = {
  id: "edge-new", name: "", status: "healthy", reason: "", agent_version: "0.1.0", last_seen_at: "2026-01-01T00:00:00Z",
  desired_config_version: 0, applied_config_version: 0,
};

function fakeCloud(imageOffered: boolean) {
  const cloud = { devices: [] as DevicePublic[], calls: [] as string[] };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    cloud.calls.push(call);
    if (call === "GET /api/v1/users/me") return json(user);
    if (call === "GET /api/v1/tenant") return json(tenant);
    if (call === "GET /api/v1/devices") return json(cloud.devices);
    if (call === "GET /api/v1/bootstrap-tokens") return json([]);
    if (call === "POST /api/v1/bootstrap-tokens") {
      return json({
        id: "nonce-1", label: "", relay_id: "r1", created_at: "2026-01-01T00:00:00Z", expires_at: "2099-01-01T00:00:00Z",
        used_at: null, revoked_at: null, token: SECRET,
      } satisfies BootstrapTokenIssued, 201);
    }
    if (call === "GET /api/v1/bootstrap-tokens/nonce-1/image/checksum") {
      return imageOffered
        ? json({ size: 1_400_000_000, sha256: SHA, etag: '"e1"' })
        : json({ error: { code: "edge_image_unavailable", message: "no edge image is configured" } }, 503);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  return { cloud, fetch };
}

let page: Mounted;
const until = <T,>(find: () => T | null | undefined | false, what: string) => untilOn(page, find, what);

async function issueToken(imageOffered: boolean) {
  const fake = fakeCloud(imageOffered);
  const api = createApi(new ApiClient({ fetch: fake.fetch }));
  const services = { ...createServices(api), session: new SessionStore(api, { present: () => true, clear: () => {} }) };
  await services.session.load();
  page = mount(
    <ServicesProvider services={services}>
      <MemoryRouter>
        <DevicesPage />
      </MemoryRouter>
    </ServicesProvider>,
  );
  const button = await until(() => page.$<HTMLButtonElement>("form.inline-form button[type=submit]"), "the token form");
  await act(async () => button.click());
  return fake.cloud;
}

afterEach(() => {
  page.unmount();
  vi.useRealTimers();
});

describe("add a device: the personalised image", () => {
  it("offers the download by token id with its checksum, the first-run steps and the token as a QR code", async () => {
    await issueToken(true);
    const panel = await until(() => page.$("[data-testid=image-download]"), "the download panel");
    const link = panel.querySelector<HTMLAnchorElement>("a[download]")!;
    expect(link.getAttribute("href")).toBe("/api/v1/bootstrap-tokens/nonce-1/image");
    expect(link.getAttribute("href")).not.toContain("secret");
    expect(link.textContent).toContain("1.4 GB");
    expect(page.$("[data-testid=image-sha256]")!.textContent).toBe(SHA);
    for (const step of ["balenaEtcher", "Raspberry Pi Imager", "dd if=", "Boot", "Wait"]) expect(panel.textContent).toContain(step);
    const qr = page.$<SVGElement>("[data-testid=token-qr]")!;
    expect(qr.querySelector("path")!.getAttribute("d")).toMatch(/^M\d+ \d+h1v1h-1z/);
    expect(page.$("[data-testid=script-steps]")).toBeNull();
  });

  it("falls back to the script's steps when the cloud offers no image", async () => {
    await issueToken(false);
    const steps = await until(() => page.$("[data-testid=script-steps]"), "the script's steps");
    expect(steps.textContent).toContain("personalise-image.sh guardian-edge.raw my-device.raw");
    expect(steps.textContent).toContain("--relay relay-1.example.org:443");
    expect(page.$("[data-testid=image-download]")).toBeNull();
  });

  it("shows the new device without a reload while waiting for it", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const cloud = await issueToken(true);
    await until(() => page.$("[data-testid=waiting]"), "the waiting note");
    expect(page.container.textContent).not.toContain("edge-new");
    cloud.devices = [device];  // the device enrolled and reported in
    const before = cloud.calls.filter((c) => c === "GET /api/v1/devices").length;
    await act(async () => vi.advanceTimersByTime(DEVICE_POLL_MS));
    await until(() => page.container.textContent?.includes("edge-new"), "the new device in the list");
    expect(cloud.calls.filter((c) => c === "GET /api/v1/devices").length).toBe(before + 1);
  });
});
