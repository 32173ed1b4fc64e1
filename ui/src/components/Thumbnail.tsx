import { useEffect, useRef, useState } from "react";
import { mediaUrl } from "../api/media";
import type { EventPublic } from "../api/types";
import { useServices } from "../context";
import { formatLabel } from "../state/format";

/**
 * An event's thumbnail from the relay, fetched only when the row scrolls into view (each one needs
 * a token from the cloud). Falls back to the label's initial when the relay or device cannot serve it.
 */
export function Thumbnail({ event, enabled }: { event: EventPublic; enabled: boolean }) {
  const { media } = useServices();
  const holder = useRef<HTMLSpanElement>(null);
  const [visible, setVisible] = useState(false);
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

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
    media.get(event.id, ["thumbnail"]).then(
      (grant) => !cancelled && setSrc(mediaUrl(grant, event.id, "thumbnail")),
      () => !cancelled && setFailed(true),
    );
    return () => {
      cancelled = true;
    };
  }, [visible, enabled, event.id, media]);

  return (
    <span className="thumb" ref={holder} aria-hidden="true">
      {src && !failed ? (
        <img src={src} alt="" width={96} height={54} loading="lazy" onError={() => setFailed(true)} />
      ) : (
        <span className="thumb-fallback">{formatLabel(event.label).slice(0, 1)}</span>
      )}
    </span>
  );
}
