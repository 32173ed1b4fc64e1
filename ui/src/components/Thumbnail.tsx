import { useEffect, useRef, useState } from "react";
import { mediaUrl } from "../api/media";
import type { EventPublic } from "../api/types";
import { useServices } from "../context";
import { formatLabel } from "../state/format";
import "./Thumbnail.css";

/** What makes a later version of an event worth asking for its thumbnail again (an open event has none
 * yet; the edge writes it when the event ends). */
export function thumbnailVersion(event: Pick<EventPublic, "id" | "end_at" | "has_clip">): string {
  return `${event.id}|${event.end_at ?? ""}|${event.has_clip ? 1 : 0}`;
}

/**
 * An event's thumbnail from the relay, fetched only when the row scrolls into view (each one needs
 * a token from the cloud). The picture keeps the crop's own shape inside the tile (a standing person is
 * a narrow picture, not a landscape tile of grass and legs). Falls back to the label's initial when the
 * relay or device cannot serve it, and tries again when a later version of the event arrives.
 */
export function Thumbnail({ event, enabled }: { event: Pick<EventPublic, "id" | "label" | "end_at" | "has_clip">; enabled: boolean }) {
  const { media } = useServices();
  const holder = useRef<HTMLSpanElement>(null);
  const [visible, setVisible] = useState(false);
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const version = thumbnailVersion(event);

  useEffect(() => {
    const element = holder.current;
    if (!element || !enabled || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        setVisible(true);
        observer.disconnect();
      }
    }, { rootMargin: "200px" });
    observer.observe(element);
    return () => observer.disconnect();
  }, [enabled]);

  useEffect(() => {
    if (!visible || !enabled) return;
    let cancelled = false;
    setSrc(null);
    setFailed(false);
    setLoaded(false);
    media.get(event.id, ["thumbnail"]).then(
      // The version in the URL: the same address would not be fetched again after it failed.
      (grant) => !cancelled && setSrc(`${mediaUrl(grant, event.id, "thumbnail")}&v=${encodeURIComponent(version)}`),
      () => !cancelled && setFailed(true),
    );
    return () => {
      cancelled = true;
    };
  }, [visible, enabled, version, event.id, media]);

  const showing = src && !failed;
  return (
    <span className={loaded && showing ? "thumb thumb-loaded" : "thumb"} ref={holder} aria-hidden="true"
          data-thumb-state={failed ? "failed" : loaded ? "loaded" : "waiting"}>
      {showing ? (
        <img src={src} alt="" loading="lazy" onLoad={() => setLoaded(true)} onError={() => setFailed(true)} />
      ) : (
        <span className="thumb-fallback">{formatLabel(event.label).slice(0, 1)}</span>
      )}
    </span>
  );
}
