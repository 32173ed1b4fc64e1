// One camera live, from the edge over WebRTC through the tenant's relay (TURN only: iceTransportPolicy
// "relay"), end-to-end encrypted (DTLS-SRTP between the edge and this browser). The cloud only mints the
// live token; the relay signals and forwards packets it cannot read.
//
// States: connecting → live; when the session ends (token expiry, edge or relay restart) or fails, it
// reconnects by itself with a new token ("reconnecting"), backing off; "failed" says why (token expired,
// edge offline, relay unreachable, …) while it waits to try again, or for good when retrying cannot help.
// Off screen or in a background tab the stream is stopped (nothing is read on the edge for it); it starts
// again when looked at. While it plays, the view renews its live token before it expires (the same session
// in the audit; the edge moves its end), so the stream is not cut; a member or device whose access ended
// gets no new token and the stream ends with the last one (a revoked device's view then says its camera box
// was removed, and stops trying). Leaving the page (tab closed, reload, another site) ends the session at once, with
// requests that outlive the page (a beacon to the cloud, a keepalive fetch to the relay), rather than when
// its token expires.
import { useCallback, useEffect, useRef, useState } from "react";
import type { DeviceAccessToken } from "../api/cameraAccess";
import {
  LIVE_FAILURE_WORDS,
  liveFailure,
  liveIceServers,
  liveOffer,
  liveRenew,
  liveStop,
  retriable,
  type LiveFailure,
  type LiveStream,
} from "../api/live";
import { useServices } from "../context";
import { useVisible } from "./CameraPicture";
import "./LiveView.css";

export type LiveState = "idle" | "connecting" | "live" | "reconnecting" | "failed";

const STATE_WORDS: Record<LiveState, string> = {
  idle: "Paused",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  failed: "Not playing",
};

/** How long ICE gathering (the TURN allocation) may take before the offer goes without it. */
const GATHER_TIMEOUT_MS = 5_000;
/** A connection "disconnected" this long is treated as ended (a brief loss recovers by itself). */
const DISCONNECTED_GRACE_MS = 4_000;
/** Renew the token this long before it expires (at most a third of its life). */
const RENEW_BEFORE_MS = 30_000;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** The delay before attempt `n` (0-based) to reconnect: 1 s, 2 s, 4 s … 30 s. */
export function retryDelay(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt));
}

/** When to renew a token that expires at `expiresAt` (ISO time). */
export function renewDelay(expiresAt: string, now = Date.now()): number {
  const left = Date.parse(expiresAt) - now;
  return Math.max(1_000, left - Math.min(RENEW_BEFORE_MS, left / 3));
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        done();
      }
    });
  });
}

interface Running {
  pc: RTCPeerConnection;
  grant: DeviceAccessToken;
  session: string | null;
}

/** Off screen for this long before a view stops: a quick scroll past it, or a passing relayout (a full-page
 * screenshot resizes the viewport for a moment), does not end and restart its session. */
export const OFFSCREEN_GRACE_MS = 3_000;

/** `on`, but turning false only once it has stayed false for `graceMs`. */
export function useLingering(on: boolean, graceMs: number): boolean {
  const [value, setValue] = useState(on);
  useEffect(() => {
    if (on) {
      setValue(true);
      return;
    }
    const timer = setTimeout(() => setValue(false), graceMs);
    return () => clearTimeout(timer);
  }, [on, graceMs]);
  return value;
}

export function LiveView({ deviceId, camera, title, stream = "sub" }: {
  deviceId: string; camera: string; title: string; stream?: LiveStream;
}) {
  const { api, relayFetch } = useServices();
  const frame = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const visible = useLingering(useVisible(frame), OFFSCREEN_GRACE_MS);
  const [hidden, setHidden] = useState(typeof document !== "undefined" && document.hidden);
  const [state, setState] = useState<LiveState>("idle");
  const [failure, setFailure] = useState<LiveFailure | null>(null);
  const [muted, setMuted] = useState(true);
  const [generation, setGeneration] = useState(0); // bumped to reconnect
  const running = useRef<Running | null>(null);
  const attempts = useRef(0);
  const wasLive = useRef(false);

  useEffect(() => {
    const changed = () => setHidden(document.hidden);
    document.addEventListener("visibilitychange", changed);
    return () => document.removeEventListener("visibilitychange", changed);
  }, []);

  /** Close the peer connection and tell the relay (edge) and the cloud (audit); best effort. `leaving`:
   * the page is going away, so only requests that outlive it will arrive. */
  const stop = useCallback((current: Running | null, leaving = false) => {
    if (!current) return;
    current.pc.close();
    if (current.session) {
      void liveStop(current.grant, deviceId, camera, current.session, relayFetch, leaving).catch(() => undefined);
    }
    const audit = current.grant.live_session_id;
    if (audit && leaving) api.live.endOnLeave(audit);
    else if (audit) void api.live.end(audit).catch(() => undefined);
  }, [api, relayFetch, deviceId, camera]);

  const active = visible && !hidden;

  useEffect(() => {
    if (!active) {
      setState("idle");
      return;
    }
    const abort = new AbortController();
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    let renewTimer: ReturnType<typeof setTimeout> | undefined;
    let current: Running | null = null;

    // A new token for the same session, handed to the edge through the relay, then the next renewal. If it
    // fails (access ended, relay or edge away) nothing is cut now: the session ends when its token expires
    // and the view reconnects as for any end.
    const renew = async (attempt: Running) => {
      const audit = attempt.grant.live_session_id;
      if (abort.signal.aborted || !attempt.session || !audit) return;
      try {
        const grant = await api.live.renew(audit);
        if (abort.signal.aborted) return;
        await liveRenew(grant, deviceId, camera, attempt.session, relayFetch, abort.signal);
        attempt.grant = grant;
        renewTimer = setTimeout(() => void renew(attempt), renewDelay(grant.expires_at));
      } catch {
        // see above
      }
    };

    const again = (why: LiveFailure | null) => {
      if (abort.signal.aborted) return;
      clearTimeout(renewTimer);
      stop(current);
      current = running.current = null;
      setFailure(why);
      if (why !== null && !retriable(why)) {
        setState("failed");
        return;
      }
      setState(wasLive.current && why === null ? "reconnecting" : why === null ? "connecting" : "failed");
      const delay = why === null && attempts.current === 0 ? 0 : retryDelay(attempts.current);
      attempts.current += 1;
      retryTimer = setTimeout(() => setGeneration((g) => g + 1), delay);
    };

    async function connect() {
      setState(wasLive.current ? "reconnecting" : "connecting");
      if (typeof RTCPeerConnection === "undefined") {
        again("no-webrtc");
        return;
      }
      let grant: DeviceAccessToken | null = null;
      let opened = false; // the peer connection holds the grant: whoever stops it ends the session
      // Aborted (unmounted, off screen) while a step was in flight: the cleanup has already run (and
      // stopped the peer connection if there was one), so end here what it could not see.
      const abandon = () => {
        if (!opened && grant?.live_session_id) void api.live.end(grant.live_session_id).catch(() => undefined);
      };
      try {
        grant = await api.live.token(deviceId, camera, stream);
        if (abort.signal.aborted) return abandon();
        const ice = await liveIceServers(grant, deviceId, camera, relayFetch, abort.signal);
        if (abort.signal.aborted) return abandon();
        const pc = new RTCPeerConnection({ iceServers: ice.ice_servers, iceTransportPolicy: "relay" });
        const attempt: Running = { pc, grant, session: null };
        current = running.current = attempt;
        opened = true;
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.ontrack = (event) => {
          if (video.current) video.current.srcObject = new MediaStream([event.track]);
        };
        pc.onconnectionstatechange = () => {
          clearTimeout(graceTimer);
          const s = pc.connectionState;
          if (s === "connected") {
            attempts.current = 0;
            wasLive.current = true;
            setFailure(null);
            setState("live");
          } else if (s === "failed") {
            again(wasLive.current ? null : "no-connection");
          } else if (s === "closed") {
            again(null);
          } else if (s === "disconnected") {
            // The edge ended the session (token expiry, restart) or the path broke: give it a moment.
            graceTimer = setTimeout(() => again(null), DISCONNECTED_GRACE_MS);
          }
        };
        await pc.setLocalDescription(await pc.createOffer());
        await gathered(pc);
        if (abort.signal.aborted) return abandon();
        const answer = await liveOffer(grant, deviceId, camera, pc.localDescription?.sdp ?? "", relayFetch, abort.signal);
        attempt.session = answer.session;
        if (abort.signal.aborted) {
          // The cleanup closed the connection before the edge's session existed: end that one too.
          void liveStop(grant, deviceId, camera, answer.session, relayFetch).catch(() => undefined);
          return;
        }
        await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
        // The edge ended the session (its device revoked, its token expired, the edge stopping): its DTLS
        // close arrives at once, while the connection state waits ~15 s for ICE consent to run out. (A late
        // event from a connection this view already left reaches an aborted run: again() ignores it.)
        const dtls = pc.getReceivers()[0]?.transport;
        dtls?.addEventListener("statechange", () => {
          if (dtls.state === "closed") again(null);
        });
        renewTimer = setTimeout(() => void renew(attempt), renewDelay(grant.expires_at));
      } catch (error) {
        if (abort.signal.aborted) return abandon();
        // Failed before a peer connection held it: the session the token opened in the audit ends now.
        if (grant?.live_session_id && !opened) void api.live.end(grant.live_session_id).catch(() => undefined);
        again(liveFailure(error));
      }
    }

    // The page goes away (pagehide: tab closed, reload, navigated off; not fired for a route change, which
    // unmounts this view and runs the cleanup below): end the session with requests that outlive the page.
    const leave = () => {
      abort.abort();
      clearTimeout(retryTimer);
      clearTimeout(graceTimer);
      clearTimeout(renewTimer);
      stop(current, true);
      current = running.current = null;
    };
    // Back from the back/forward cache: start again.
    const back = (event: PageTransitionEvent) => {
      if (event.persisted) setGeneration((g) => g + 1);
    };
    window.addEventListener("pagehide", leave);
    window.addEventListener("pageshow", back);

    void connect();
    return () => {
      window.removeEventListener("pagehide", leave);
      window.removeEventListener("pageshow", back);
      abort.abort();
      clearTimeout(retryTimer);
      clearTimeout(graceTimer);
      clearTimeout(renewTimer);
      stop(current);
      current = running.current = null;
    };
  }, [active, generation, api, relayFetch, deviceId, camera, stream, stop]);

  function snapshot() {
    const v = video.current;
    if (!v || !v.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext("2d")?.drawImage(v, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) return;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${camera}-${new Date().toISOString().replace(/[:.]/g, "-")}.png`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    }, "image/png");
  }

  function fullscreen() {
    const target = frame.current;
    if (!target) return;
    if (document.fullscreenElement) void document.exitFullscreen();
    else void target.requestFullscreen?.();
  }

  const reason = failure ? LIVE_FAILURE_WORDS[failure] + (retriable(failure) ? " Trying again…" : "") : null;

  return (
    <figure className="live-view" aria-label={`${title} live`} data-live-state={state}>
      <div className="live-view-frame" ref={frame}>
        <video ref={video} autoPlay playsInline muted={muted} aria-label={`${title}, live video`} />
        <p className="live-view-state" data-state={state} role="status">{STATE_WORDS[state]}</p>
        {state === "failed" && reason && <p className="live-view-reason">{reason}</p>}
      </div>
      <div className="live-view-controls">
        <button type="button" className="button secondary" onClick={() => setMuted((m) => !m)} aria-pressed={!muted}>
          {muted ? "Unmute" : "Mute"}
        </button>
        <button type="button" className="button secondary" onClick={fullscreen}>Fullscreen</button>
        <button type="button" className="button secondary" onClick={snapshot} disabled={state !== "live"}>Snapshot</button>
        {state === "failed" && failure && !retriable(failure) && failure !== "device-removed" && (
          <button type="button" className="button secondary" onClick={() => { attempts.current = 0; setFailure(null); setGeneration((g) => g + 1); }}>
            Try again
          </button>
        )}
      </div>
    </figure>
  );
}
