// @vitest-environment happy-dom
// "Add a device" once a token is issued: the personalised image's download links (by token id, never the
// token's text), compressed (.img.xz) first, each with its size and SHA-256, the .img.xz's progress while the
// cloud prepares it, the first-run steps, the token as a QR code; the script's steps when the cloud has no
// image; the new device showing up in the list without a reload; and, once the device has used the token,
// the token, its QR code and the image gone, the page saying the device enrolled.
import { act } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import type { BootstrapTokenIssued, DevicePublic, TenantPublic, UserPublic } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { SessionStore } from "../state/session";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { XZ_POLL_MS } from "./DeviceImage";
import { DEVICE_POLL_MS, DevicesPage } from "./Devices";

const SECRET = "eyJ0eXAiOiJndWFyZGlhbi1ib290c3RyYXArand0In0.secret-token-text";
const SHA = "5f".repeat(32);
const XZ_SHA = "a7".repeat(32);
const user = { id: "u1", email: "owner@example.org", role: "admin", tenant_id: "t1" } as UserPublic;
const tenant: TenantPublic = { id: "t1", name: "Home", plan: "free", relay_id: "r1", relay_url: "https://relay-1.example.org", relay_enrolment_endpoint: "relay-1.example.org:443" };
const device: DevicePublic = {
  id: "edge-new", name: "", status: "healthy", reason: "", agent_version: "0.1.0", last_seen_at: "2026-01-01T00:00:00Z",
  desired_config_version: 0, applied_config_version: 0,
};

type Xz = "ready" | "preparing" | "unavailable";

function fakeCloud(imageOffered: boolean, xz: Xz) {
  const cloud = { devices: [] as DevicePublic[], calls: [] as string[], xz, tokenUsed: false };
  const token = {
    id: "nonce-1", label: "", relay_id: "r1", created_at: "2026-01-01T00:00:00Z", expires_at: "2099-01-01T00:00:00Z",
    used_at: null, revoked_at: null,
  };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    cloud.calls.push(call);
    if (call === "GET /api/v1/users/me") return json(user);
    if (call === "GET /api/v1/tenant") return json(tenant);
    if (call === "GET /api/v1/devices") return json(cloud.devices);
    if (call === "GET /api/v1/bootstrap-tokens") {
      return json(cloud.calls.includes("POST /api/v1/bootstrap-tokens")
        ? [{ ...token, used_at: cloud.tokenUsed ? "2026-01-01T00:05:00Z" : null }] : []);
    }
    if (call === "POST /api/v1/bootstrap-tokens") return json({ ...token, token: SECRET } satisfies BootstrapTokenIssued, 201);
    if (call === "GET /api/v1/bootstrap-tokens/nonce-1/image.xz/checksum") {
      if (!imageOffered || cloud.xz === "unavailable") {
        return json({ error: { code: "edge_image_unavailable", message: "no edge image is configured" } }, 503);
      }
      return json(cloud.xz === "ready"
        ? { ready: true, progress: 1, size: 420_000_000, sha256: XZ_SHA, etag: '"x1"', image_size: 1_400_000_000 }
        : { ready: false, progress: 0.42, size: null, sha256: null, etag: null, image_size: 1_400_000_000 });
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

async function issueToken(imageOffered: boolean, xz: Xz = "ready") {
  const fake = fakeCloud(imageOffered, xz);
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
  it("offers the .img.xz first, then the uncompressed image, by token id with their checksums, and the token as a QR code", async () => {
    await issueToken(true);
    const panel = await until(() => page.$("[data-testid=image-xz]") && page.$("[data-testid=image-download]"), "the download panel");
    const links = panel.querySelectorAll<HTMLAnchorElement>("a[download]");
    expect(links).toHaveLength(2);
    const [xz, raw] = [links[0]!, links[1]!];
    expect(xz.getAttribute("href")).toBe("/api/v1/bootstrap-tokens/nonce-1/image.xz");
    expect(xz.textContent).toContain(".img.xz, 420 MB");
    expect(raw.getAttribute("href")).toBe("/api/v1/bootstrap-tokens/nonce-1/image");
    expect(raw.textContent).toContain("1.4 GB");
    for (const link of [xz, raw]) expect(link.getAttribute("href")).not.toContain("secret");
    expect(page.$("[data-testid=image-xz-sha256]")!.textContent).toBe(XZ_SHA);
    expect(page.$("[data-testid=image-sha256]")!.textContent).toBe(SHA);
    for (const step of ["balenaEtcher", "Raspberry Pi Imager", "take the .img.xz as it is", "xz -dc guardian-edge-….img.xz | sudo dd of=",
                        "dd if=", "Boot", "Wait"]) {
      expect(panel.textContent).toContain(step);
    }
    expect(page.$("[data-testid=image-xz-preparing]")).toBeNull();
    const qr = page.$<SVGElement>("[data-testid=token-qr]")!;
    expect(qr.querySelector("path")!.getAttribute("d")).toMatch(/^M\d+ \d+h1v1h-1z/);
    expect(page.$("[data-testid=script-steps]")).toBeNull();
  });

  it("shows the .img.xz's progress while the cloud prepares it, and the link once it is ready", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const cloud = await issueToken(true, "preparing");
    const note = await until(() => page.$("[data-testid=image-xz-preparing]"), "the progress note");
    expect(note.textContent).toContain("42 %");
    const links = page.$("[data-testid=image-download]")!.querySelectorAll<HTMLAnchorElement>("a[download]");
    expect([...links].map((a) => a.getAttribute("href"))).toEqual(["/api/v1/bootstrap-tokens/nonce-1/image"]);
    expect(page.$("[data-testid=image-xz-sha256]")).toBeNull();
    expect(page.$("[data-testid=image-download]")!.textContent).toContain("both take the image as it is");
    expect(page.$("[data-testid=image-download]")!.textContent).not.toContain(".img.xz as it is");

    cloud.xz = "ready";
    const asked = () => cloud.calls.filter((c) => c.endsWith("/image.xz/checksum")).length;
    const before = asked();
    await act(async () => vi.advanceTimersByTime(XZ_POLL_MS));
    await until(() => page.$("[data-testid=image-xz]"), "the .img.xz link");
    expect(asked()).toBe(before + 1);
    expect(page.$("[data-testid=image-xz-preparing]")).toBeNull();
    await act(async () => vi.advanceTimersByTime(3 * XZ_POLL_MS));
    expect(asked()).toBe(before + 1);  // ready: no more asking
  });

  it("offers the uncompressed image alone when the cloud cannot make the .img.xz", async () => {
    await issueToken(true, "unavailable");
    const panel = await until(() => page.$("[data-testid=image-download]"), "the download panel");
    await until(() => page.$<HTMLAnchorElement>("[data-testid=image-raw-link]"), "the raw link");
    expect([...panel.querySelectorAll("a[download]")].map((a) => a.getAttribute("href"))).toEqual(["/api/v1/bootstrap-tokens/nonce-1/image"]);
    expect(page.$("[data-testid=image-xz-preparing]")).toBeNull();
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

  it("once the device has used the token, says it enrolled and drops the token, its QR code and the image", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const cloud = await issueToken(true);
    await until(() => page.$("[data-testid=image-download]"), "the download panel");
    expect(page.$("#issued-token")).not.toBeNull();
    cloud.devices = [device];  // it enrolled with the token and reported in
    cloud.tokenUsed = true;
    await act(async () => vi.advanceTimersByTime(DEVICE_POLL_MS));
    const done = await until(() => page.$("[data-testid=token-done]"), "the enrolled note");
    expect(done.textContent).toContain("Your device has enrolled");
    expect(page.container.textContent).toContain("edge-new");
    for (const gone of ["#issued-token", "[data-testid=token-qr]", "[data-testid=image-download]", "[data-testid=waiting]", "a[download]"]) {
      expect(page.$(gone), gone).toBeNull();
    }
    expect(page.container.innerHTML).not.toContain(SECRET);

    await act(async () => done.querySelector<HTMLButtonElement>("button")!.click());
    expect(page.$("form.inline-form button[type=submit]")).not.toBeNull();  // ready for the next device
  });
});
