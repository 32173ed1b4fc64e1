// The latest picture of a camera, from the tenant's relay (never through the cloud): fetched with a short
// picture token, refreshed every ~10 s while it is on screen, and a plain sentence instead of a broken image
// when there is none yet, the device is offline or the relay cannot be reached.
import { useEffect, useRef, useState, type ReactNode, type RefObject } from "react";
import { isApiError } from "../api";
import { fetchPicture, isRelayError } from "../api/cameraAccess";
import { useServices } from "../context";
import { useNow } from "../hooks";
import { formatRelative } from "../state/format";
import "./CameraPicture.css";

export type PictureStatus = "loading" | "ok" | "none" | "device-offline" | "unreachable" | "no-relay" | "error";

export interface CameraPictureState {
  status: PictureStatus;
  /** An object URL of the latest picture; null until one arrived. */
  src: string | null;
  takenAt: Date | null;
}

export const PICTURE_REFRESH_MS = 10_000;

function statusOf(error: unknown): PictureStatus {
  if (isRelayError(error)) {
    if (error.status === 404) return "none";
    if (error.status === 0) return "unreachable";
    if (error.status >= 502 && error.status <= 504) return "device-offline";
    return "error";
  }
  if (isApiError(error, "camera_not_found")) return "none";
  if (isApiError(error, "no_relay")) return "no-relay";
  return "error";
}

/** Whether `element` is on screen (always true where IntersectionObserver is missing). */
export function useVisible(element: RefObject<Element | null>): boolean {
  const [visible, setVisible] = useState(typeof IntersectionObserver === "undefined");
  useEffect(() => {
    const target = element.current;
    if (!target || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => setVisible(entries.some((e) => e.isIntersecting)));
    observer.observe(target);
    return () => observer.disconnect();
  }, [element]);
  return visible;
}

/** The picture of (deviceId, camera), reloaded every `refreshMs` while `active`. */
export function useCameraPicture(deviceId: string, camera: string, active: boolean, refreshMs = PICTURE_REFRESH_MS): CameraPictureState {
  const { pictures, relayFetch } = useServices();
  const [state, setState] = useState<CameraPictureState>({ status: "loading", src: null, takenAt: null });
  const current = useRef<string | null>(null);

  useEffect(() => {
    if (!active) return;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function load() {
      // A tab in the background shows nothing: ask again when it is looked at (next round).
      if (document.hidden) {
        timer = setTimeout(() => void load(), refreshMs);
        return;
      }
      try {
        const grant = await pictures.get(deviceId, camera);
        const picture = await fetchPicture(grant, deviceId, camera, relayFetch, abort.signal);
        if (abort.signal.aborted) return;
        const src = URL.createObjectURL(picture.blob);
        if (current.current) URL.revokeObjectURL(current.current);
        current.current = src;
        setState({ status: "ok", src, takenAt: picture.takenAt });
      } catch (error) {
        if (abort.signal.aborted) return;
        if (isRelayError(error) && (error.status === 401 || error.status === 403)) pictures.invalidate(deviceId, camera);
        if (current.current) URL.revokeObjectURL(current.current);
        current.current = null;
        setState({ status: statusOf(error), src: null, takenAt: null });
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void load(), refreshMs);
    }
    void load();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [active, deviceId, camera, pictures, relayFetch, refreshMs]);

  useEffect(() => () => {
    if (current.current) URL.revokeObjectURL(current.current);
  }, []);
  return state;
}

const MESSAGES: Record<Exclude<PictureStatus, "ok">, string> = {
  loading: "Loading picture…",
  none: "No picture yet",
  "device-offline": "Device offline",
  unreachable: "Relay unreachable",
  "no-relay": "No relay yet",
  error: "Picture unavailable",
};

/** What to say instead of a picture; a camera the cloud knows is down is "offline", not merely without one. */
export function pictureMessage(status: Exclude<PictureStatus, "ok">, cameraOnline: boolean | undefined): string {
  if (status === "none" && cameraOnline === false) return "Camera offline";
  return MESSAGES[status];
}

export interface CameraPictureProps {
  deviceId: string;
  camera: string;
  title: string;
  /** From the camera's health: false says "Camera offline" when the relay has no picture. */
  online?: boolean | undefined;
  className?: string;
  children?: ReactNode;
}

export function CameraPicture({ deviceId, camera, title, online, className = "", children }: CameraPictureProps) {
  const element = useRef<HTMLElement | null>(null);
  const visible = useVisible(element);
  const picture = useCameraPicture(deviceId, camera, visible);
  const now = useNow(5_000);
  return (
    <figure ref={element} className={`camera-picture ${className}`.trim()} data-picture={picture.status}>
      <div className="camera-picture-frame">
        {picture.status === "ok" && picture.src ? (
          <img src={picture.src} alt={`Latest picture from ${title}`} />
        ) : (
          <p className="camera-picture-empty">{pictureMessage(picture.status === "ok" ? "error" : picture.status, online)}</p>
        )}
        {children}
      </div>
      {picture.status === "ok" && (
        <figcaption className="small muted">
          {picture.takenAt ? <>Taken {formatRelative(picture.takenAt.toISOString(), now)}</> : "Latest picture"}
        </figcaption>
      )}
    </figure>
  );
}
