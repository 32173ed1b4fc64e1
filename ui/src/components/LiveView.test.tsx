// @vitest-environment happy-dom
// A live view that goes away (unmounted, scrolled off screen) while one of its connection steps is in
// flight must still end what that attempt opened: the session in the tenant's audit (which counts against
// the plan's viewers) and the peer connection. The cloud, the relay and RTCPeerConnection are played in
// memory; each step is held until the test lets it finish.
import { act, useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, createApi } from "../api";
import { createServices, ServicesProvider } from "../context";
import { mount, settle, until as untilOn, type Mounted } from "../testDom";
import { LiveView, OFFSCREEN_GRACE_MS, renewDelay, useLingering } from "./LiveView";

const RELAY = "https://relay-a.example.org";

function later<T>() {
  let settle!: (value: T) => void;
  const promise = new Promise<T>((resolve) => { settle = resolve; });
  return { promise, settle };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

class FakeDtlsTransport extends EventTarget {
  state = "connected";
}

class FakePeerConnection {
  static made: FakePeerConnection[] = [];
  dtls = new FakeDtlsTransport();
  closed = false;
  iceGatheringState = "complete";
  connectionState = "new";
  localDescription: { type: string; sdp: string } | null = null;
  onconnectionstatechange: (() => void) | null = null;
  ontrack: (() => void) | null = null;
  constructor() { FakePeerConnection.made.push(this); }
  addTransceiver() {}
  addEventListener() {}
  async createOffer() { return { type: "offer", sdp: "v=0\r\n" }; }
  async setLocalDescription(description: { type: string; sdp: string }) { this.localDescription = description; }
  async setRemoteDescription() {}
  getReceivers() { return [{ transport: this.dtls }]; }
  close() { this.closed = true; }
}

function network(lifetimeMs = 120_000) {
  const calls = { ended: [] as string[], minted: 0, refused: 0, renewed: 0, relay: [] as string[],
                  relayInit: [] as RequestInit[] };
  const held = { ice: later<Response>(), offer: later<Response>() };
  const device = { revoked: false }; // the cloud then mints no token for it: 404 as for no device at all
  const cloud = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "POST /api/v1/devices/edge-home/access-token" && device.revoked) {
      calls.refused += 1;
      return json({ error: { code: "not_found", message: "device not found" } }, 404);
    }
    if (call === "POST /api/v1/devices/edge-home/access-token") {
      calls.minted += 1;
      return json({ token: "tok-live", relay_url: RELAY, scopes: ["live"], camera: "porch",
                    expires_at: new Date(Date.now() + lifetimeMs).toISOString(), live_session_id: `ls-${calls.minted}` }, 201);
    }
    if (call === "POST /api/v1/live-sessions/ls-1/renew") {
      calls.renewed += 1;
      return json({ token: `tok-renewed-${calls.renewed}`, relay_url: RELAY, scopes: ["live"], camera: "porch",
                    expires_at: new Date(Date.now() + 120_000).toISOString(), live_session_id: "ls-1" }, 201);
    }
    const ended = /^POST \/api\/v1\/live-sessions\/([^/]+)\/end$/.exec(call);
    if (ended) {
      calls.ended.push(ended[1] ?? "");
      return new Response(null, { status: 204 });
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  const relay = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input).pathname}`;
    calls.relay.push(call);
    calls.relayInit.push(init ?? {});
    if (/^POST .*\/live\/s-1$/.test(call)) return json({ expires_at: new Date(Date.now() + 120_000).toISOString() });
    // A copy each time: a view that reconnects asks again.
    if (call.startsWith("GET ")) return held.ice.promise.then((response) => response.clone());
    if (call.startsWith("POST ")) return held.offer.promise.then((response) => response.clone());
    return new Response(null, { status: 204 });
  };
  return { calls, held, device, cloud, relay };
}

let page: Mounted;

function render(lifetimeMs?: number) {
  const net = network(lifetimeMs);
  const api = createApi(new ApiClient({ fetch: net.cloud }));
  page = mount(
    <ServicesProvider services={{ ...createServices(api), relayFetch: net.relay }}>
      <LiveView deviceId="edge-home" camera="porch" title="Porch" />
    </ServicesProvider>,
  );
  return net;
}

describe("LiveView leaving mid-connection", () => {
  afterEach(() => {
    page?.unmount();
    vi.unstubAllGlobals();
    FakePeerConnection.made = [];
  });

  it("ends the audit's session when it leaves while the relay is still answering for the ICE servers", async () => {
    vi.stubGlobal("IntersectionObserver", undefined); // always on screen
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render();
    await untilOn(page, () => net.calls.relay.length > 0, "the ICE servers asked of the relay");
    page.unmount();
    net.held.ice.settle(json({ ice_servers: [{ urls: "turn:relay-a.example.org:3478" }], expires_at: "2030-01-01T00:00:00Z" }));
    await settle();
    expect(net.calls.ended).toEqual(["ls-1"]);
    expect(FakePeerConnection.made.every((pc) => pc.closed)).toBe(true);
    expect(net.calls.relay.filter((c) => c.startsWith("POST "))).toEqual([]); // no offer after leaving
  });

  it("ends the session and closes the connection when it leaves while the edge is answering the offer", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render();
    net.held.ice.settle(json({ ice_servers: [], expires_at: "2030-01-01T00:00:00Z" }));
    await untilOn(page, () => net.calls.relay.some((c) => c.startsWith("POST ")), "the offer sent to the relay");
    page.unmount();
    net.held.offer.settle(json({ session: "s-1", sdp: "v=0\r\n", ice_servers: [], expires_at: "2030-01-01T00:00:00Z" }));
    await settle();
    expect(net.calls.ended).toEqual(["ls-1"]);
    expect(FakePeerConnection.made).toHaveLength(1);
    expect(FakePeerConnection.made[0]?.closed).toBe(true);
    expect(net.calls.relay).toContain("DELETE /media/v1/devices/edge-home/cameras/porch/live/s-1"); // the edge's session
  });
});

async function playing(net: ReturnType<typeof network>) {
  net.held.ice.settle(json({ ice_servers: [], expires_at: "2030-01-01T00:00:00Z" }));
  net.held.offer.settle(json({ session: "s-1", sdp: "v=0\r\n", ice_servers: [], expires_at: "2030-01-01T00:00:00Z" }));
  await untilOn(page, () => net.calls.relay.some((c) => c.startsWith("POST ")), "the offer sent to the relay");
  await settle();
}

describe("LiveView while playing and leaving the page", () => {
  afterEach(() => {
    page?.unmount();
    vi.unstubAllGlobals();
    FakePeerConnection.made = [];
  });

  it("renews its token before it expires and hands the new one to the edge's session", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render(1_200); // renewed after the minimum delay, 1 s
    await playing(net);
    const renewal = "POST /media/v1/devices/edge-home/cameras/porch/live/s-1";
    for (let waited = 0; !net.calls.relay.includes(renewal) && waited < 5_000; waited += 50) {
      await new Promise((done) => setTimeout(done, 50));
    }
    const i = net.calls.relay.indexOf(renewal);
    expect(i).toBeGreaterThan(-1);
    expect((net.calls.relayInit[i]?.headers as Record<string, string>).Authorization).toBe("Bearer tok-renewed-1");
    expect(net.calls.ended).toEqual([]); // the same session goes on
    expect(FakePeerConnection.made.every((pc) => !pc.closed)).toBe(true);
  });

  it("ends the session on pagehide with requests that outlive the page", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const beacons: string[] = [];
    Object.defineProperty(navigator, "sendBeacon", {
      configurable: true, value: (url: string) => { beacons.push(url); return true; },
    });
    const net = render();
    await playing(net);
    window.dispatchEvent(new Event("pagehide"));
    await settle();
    expect(beacons.map((url) => new URL(url, "http://cloud.test").pathname)).toEqual(["/api/v1/live-sessions/ls-1/end"]);
    const stop = net.calls.relay.indexOf("DELETE /media/v1/devices/edge-home/cameras/porch/live/s-1");
    expect(stop).toBeGreaterThan(-1);
    expect(net.calls.relayInit[stop]?.keepalive).toBe(true);
    expect(FakePeerConnection.made[0]?.closed).toBe(true);
    expect(net.calls.ended).toEqual([]); // not a plain fetch, which the closing page would cancel
  });

  it("reconnects at once when the edge ends the session (its DTLS closes), e.g. its device was revoked", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render();
    await playing(net);
    const first = FakePeerConnection.made[0];
    expect(net.calls.minted).toBe(1);
    first!.dtls.state = "closed";
    first!.dtls.dispatchEvent(new Event("statechange"));
    await untilOn(page, () => net.calls.minted === 2, "a new token asked of the cloud");
    expect(first?.closed).toBe(true);
  });

  it("says the camera box was removed when its device was revoked, and stops trying", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render();
    await playing(net);
    net.device.revoked = true;
    const first = FakePeerConnection.made[0];
    first!.dtls.state = "closed"; // the edge ended the session: the relay stopped it as revoked
    first!.dtls.dispatchEvent(new Event("statechange"));
    const words = "This camera box was removed from your home; live view is not available.";
    await untilOn(page, () => page.container.textContent?.includes(words) ?? false, "the view to say why");
    expect(page.container.querySelector("[data-live-state]")?.getAttribute("data-live-state")).toBe("failed");
    expect(page.container.textContent).not.toContain("The live view failed.");
    expect(page.container.textContent).not.toContain("Trying again"); // asking again cannot help: no retry
    expect(page.container.textContent).not.toContain("Try again"); // nor a button for it: the box is gone
    expect(net.calls.refused).toBe(1);
  });

  it("does not reconnect again for a connection it has already left (its own close closes the DTLS too)", async () => {
    vi.stubGlobal("IntersectionObserver", undefined);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    const net = render();
    await playing(net);
    const first = FakePeerConnection.made[0];
    first!.dtls.state = "closed";
    first!.dtls.dispatchEvent(new Event("statechange"));
    const offers = () => net.calls.relay.filter((c) => c === "POST /media/v1/devices/edge-home/cameras/porch/live").length;
    await untilOn(page, () => offers() === 2, "the second connection's offer");
    await settle();
    first!.dtls.dispatchEvent(new Event("statechange")); // late, from the connection already closed
    await settle();
    expect(FakePeerConnection.made).toHaveLength(2);
    expect(FakePeerConnection.made[1]?.closed).toBe(false); // the new connection plays on
  });

  it("renews at most a third of the token's life before it expires, and not in a busy loop", () => {
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(renewDelay("2030-01-01T00:02:00Z", now)).toBe(90_000);
    expect(renewDelay("2030-01-01T00:00:30Z", now)).toBe(20_000);
    expect(renewDelay("2030-01-01T00:00:00Z", now)).toBe(1_000);
  });
});

describe("off screen", () => {
  function Probe({ on }: { on: boolean }) {
    return <span>{String(useLingering(on, OFFSCREEN_GRACE_MS))}</span>;
  }

  it("keeps a view running through a moment off screen, and stops it once it stays off", () => {
    vi.useFakeTimers();
    try {
      // The prop flips as the IntersectionObserver's answer would.
      let flip!: (on: boolean) => void;
      function Flipping() {
        const [on, setOn] = useState(true);
        flip = setOn;
        return <Probe on={on} />;
      }
      const view = mount(<Flipping />);
      act(() => flip(false));
      act(() => { vi.advanceTimersByTime(OFFSCREEN_GRACE_MS - 100); });
      expect(view.container.textContent).toBe("true"); // a relayout or a quick scroll: still running
      act(() => flip(true));
      act(() => flip(false));
      act(() => { vi.advanceTimersByTime(OFFSCREEN_GRACE_MS - 100); });
      expect(view.container.textContent).toBe("true"); // back on screen restarted the grace
      act(() => { vi.advanceTimersByTime(200); });
      expect(view.container.textContent).toBe("false"); // off screen for the whole grace: stopped
      view.unmount();
    } finally {
      vi.useRealTimers();
    }
  });
});
