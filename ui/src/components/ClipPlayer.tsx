import { useCallback, useEffect, useRef, useState } from "react";
import { probeMedia, scopesFor } from "../api/media";
import type { DevicePublic, EventPublic } from "../api/types";
import { useServices } from "../context";
import { clipMessage, loadClip, type ClipState } from "../state/clip";
import { formatRelative } from "../state/format";
import { Loading } from "./Feedback";

/** The event's clip, streamed from the relay with a clip token; every failure has its own message. */
export function ClipPlayer({ event, device }: { event: EventPublic; device: DevicePublic | null }) {
  const { media } = useServices();
  const [state, setState] = useState<ClipState>({ kind: "loading" });
  const video = useRef<HTMLVideoElement>(null);
  const [attempt, setAttempt] = useState(0);

  const run = useCallback(async (signal: { cancelled: boolean }) => {
    setState({ kind: "loading" });
    const next = await loadClip(event, device, {
      token: (id, fresh) => {
        if (fresh) media.invalidate(id);
        return media.get(id, scopesFor("clip"));
      },
      probe: (url) => probeMedia(url),
    });
    if (!signal.cancelled) setState(next);
  }, [event, device, media]);

  useEffect(() => {
    const signal = { cancelled: false };
    void run(signal);
    return () => {
      signal.cancelled = true;
    };
  }, [run, attempt]);

  // The player failing later (token expired while paused, device went away): find out why.
  function onVideoError() {
    media.invalidate(event.id);
    setAttempt((n) => n + 1);
  }

  function seekBy(seconds: number) {
    const element = video.current;
    if (!element) return;
    element.currentTime = Math.max(0, Math.min(element.duration || Infinity, element.currentTime + seconds));
  }

  if (state.kind === "loading") return <div className="player placeholder"><Loading label="Fetching the clip from your device…" /></div>;
  if (state.kind !== "ready") {
    const message = clipMessage(state)!;
    const canRetry = state.kind !== "no-clip" && state.kind !== "gone";
    return (
      <div className="player placeholder" role="alert" data-clip-state={state.kind}>
        <div className="notice notice-warn">
          <strong>{message.title}</strong>
          <p>{message.body}</p>
          {state.kind === "device-offline" && state.lastSeen && (
            <p className="muted">Last heard from {formatRelative(state.lastSeen)}.</p>
          )}
          {canRetry && (
            <button type="button" className="button secondary" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          )}
        </div>
      </div>
    );
  }
  return (
    <div className="player" data-clip-state="ready">
      <video ref={video} src={state.src} controls preload="metadata" playsInline crossOrigin="anonymous"
             onError={onVideoError} aria-label={`Clip of ${event.label} on ${event.camera}`} />
      <div className="player-actions">
        <button type="button" className="button secondary" onClick={() => seekBy(-5)}>
          Back 5 s
        </button>
        <button type="button" className="button secondary" onClick={() => seekBy(5)}>
          Forward 5 s
        </button>
        <a className="button" href={state.downloadUrl} download={`${event.camera}-${event.id}.mp4`}>
          Download clip
        </a>
      </div>
    </div>
  );
}
