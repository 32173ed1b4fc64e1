import { useEffect, useState } from "react";
import { fetchTrack, trackUrl } from "../api/eventTrack";
import { mediaUrl, scopesFor } from "../api/media";
import type { EventPublic } from "../api/types";
import { useServices } from "../context";
import { scaleBox, snapshotBox, type EventTrack } from "../state/eventPage";
import { formatLabel } from "../state/format";
import "./EventSnapshot.css";

type Picture = { kind: "loading" } | { kind: "ready"; src: string } | { kind: "missing" };

/**
 * The event's full snapshot with the object's box drawn over it. Picture and boxes come from the relay
 * (the cloud holds neither); the box is an SVG in the picture's own pixels, so it scales with it. An open
 * event has no snapshot yet: a later version of it (ended) tries again. `onTrack` passes the boxes' times
 * on (the clip's markers).
 */
export function EventSnapshot({ event, cameraName, onTrack }: {
  event: EventPublic; cameraName: string; onTrack?: (track: EventTrack | null) => void;
}) {
  const { media } = useServices();
  const [picture, setPicture] = useState<Picture>({ kind: "loading" });
  const [track, setTrack] = useState<EventTrack | null>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const version = `${event.id}|${event.end_at ?? ""}`;

  useEffect(() => {
    const controller = new AbortController();
    setSize(null);
    // The edge writes the snapshot when the event ends: nothing to ask the relay for before.
    if (!event.end_at) {
      setPicture({ kind: "missing" });
      return;
    }
    setPicture({ kind: "loading" });
    media.get(event.id, scopesFor("clip")).then(async (grant) => {
      setPicture({ kind: "ready", src: mediaUrl(grant, event.id, "snapshot") });
      const found = await fetchTrack(trackUrl(grant, event.id), undefined, controller.signal).catch(() => null);
      if (!controller.signal.aborted) {
        setTrack(found);
        onTrack?.(found);
      }
    }, () => !controller.signal.aborted && setPicture({ kind: "missing" }));
    return () => controller.abort();
    // `version`: a later version of the event (it ended: the snapshot exists now) fetches again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, media]);

  const label = formatLabel(event.label);
  if (picture.kind === "missing") {
    return (
      <figure className="snapshot snapshot-missing" data-snapshot-state="missing">
        <p className="muted">{event.end_at ? "No snapshot is available for this event." : "The snapshot is taken when the event ends."}</p>
      </figure>
    );
  }
  const box = track && size ? snapshotBox(track) : null;
  const rect = box && size ? scaleBox(box, size.width, size.height) : null;
  return (
    <figure className="snapshot" data-snapshot-state={size ? "ready" : picture.kind}
            style={size ? { aspectRatio: `${size.width} / ${size.height}` } : undefined}>
      {picture.kind === "ready" && (
        <img src={picture.src} alt={`Snapshot: ${label} on ${cameraName}`}
             onLoad={(e) => setSize({ width: e.currentTarget.naturalWidth, height: e.currentTarget.naturalHeight })}
             onError={() => setPicture({ kind: "missing" })} />
      )}
      {rect && size && (
        <svg className="snapshot-boxes" viewBox={`0 0 ${size.width} ${size.height}`} aria-hidden="true">
          <rect data-testid="snapshot-box" x={rect.x} y={rect.y} width={rect.width} height={rect.height} />
          <text x={rect.x + 4} y={Math.max(rect.y - 6, 16)}>{label}</text>
        </svg>
      )}
    </figure>
  );
}
