import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { probeMedia, scopesFor } from "../api/media";
import type { DevicePublic, EventPublic } from "../api/types";
import { useServices } from "../context";
import { clipMessage, clipPending, loadClip, type ClipState } from "../state/clip";
import { withDownloadName } from "../state/eventPage";
import { formatRelative } from "../state/format";
import { Loading } from "./Feedback";

/**
 * The event's clip, streamed from the relay with a clip token; every failure has its own message.
 * A newer version of the event (live, same id) reloads the clip only when it brings the clip: a later
 * end or confidence leaves a playing video alone.
 */
export function ClipPlayer({ event, device, downloadName, markers = [], clipDuration = 0 }: {
  event: EventPublic; device: DevicePublic | null;
  /** The file name a download is saved under (the relay's Content-Disposition). */
  downloadName?: string;
  /** Where the object is seen, in seconds from the clip's start (of `clipDuration` seconds). */
  markers?: { from: number; to: number }[];
  clipDuration?: number;
}) {
  const { media } = useServices();
  const [state, setState] = useState<ClipState>({ kind: "loading" });
  const video = useRef<HTMLVideoElement>(null);
  const [attempt, setAttempt] = useState(0);
  const { id, has_clip: hasClip } = event;
  const clip = useMemo(() => ({ id, has_clip: hasClip }), [id, hasClip]);

  const run = useCallback(async (signal: { cancelled: boolean }) => {
    setState({ kind: "loading" });
    const next = await loadClip(clip, device, {
      token: (id, fresh) => {
        if (fresh) media.invalidate(id);
        return media.get(id, scopesFor("clip"));
      },
      probe: (url) => probeMedia(url),
    });
    if (!signal.cancelled) setState(next);
  }, [clip, device, media]);

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
    // No clip (yet): whether one is still coming follows the event's newest version.
    const shown = (state.kind === "no-clip" && clipPending(event)) || state;
    const message = clipMessage(shown)!;
    const canRetry = shown.kind !== "no-clip" && shown.kind !== "gone" && shown.kind !== "pending";
    return (
      <div className="player placeholder" role={shown.kind === "pending" ? "status" : "alert"} data-clip-state={shown.kind}>
        <div className={shown.kind === "pending" ? "notice" : "notice notice-warn"}>
          <strong>{message.title}</strong>
          <p>{message.body}</p>
          {shown.kind === "device-offline" && shown.lastSeen && (
            <p className="muted">Last heard from {formatRelative(shown.lastSeen)}.</p>
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
      {markers.length > 0 && clipDuration > 0 && (
        <div className="clip-markers" aria-label="Where the object is seen">
          {markers.map((m) => (
            <button key={m.from} type="button" data-testid="clip-marker"
                    style={{ left: `${(m.from / clipDuration) * 100}%`, width: `${((m.to - m.from) / clipDuration) * 100}%` }}
                    aria-label={`Seen from ${m.from.toFixed(0)} s`} title={`Seen from ${m.from.toFixed(1)} s`}
                    onClick={() => {
                      if (video.current) video.current.currentTime = m.from;
                    }} />
          ))}
        </div>
      )}
      <div className="player-actions">
        <button type="button" className="button secondary" onClick={() => seekBy(-5)}>
          Back 5 s
        </button>
        <button type="button" className="button secondary" onClick={() => seekBy(5)}>
          Forward 5 s
        </button>
        <a className="button" href={downloadName ? withDownloadName(state.downloadUrl, downloadName) : state.downloadUrl}
           download={downloadName ?? `${event.camera}-${event.id}.mp4`}>
          Download clip
        </a>
      </div>
    </div>
  );
}
