// A camera's health as its device last reported it (GET /cameras, polled): state, frame rate, bit rate,
// the last frame's age and the last error in the device's words (never a login).
import type { CameraPublic } from "../api/types";
import { formatRelative } from "../state/format";
import { CameraStateBadge } from "./Feedback";

export function formatBitrate(bps: number | null | undefined): string | null {
  if (bps === null || bps === undefined || !Number.isFinite(bps)) return null;
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

export function formatFps(fps: number | null | undefined): string | null {
  if (fps === null || fps === undefined || !Number.isFinite(fps)) return null;
  return `${fps < 10 ? fps.toFixed(1) : Math.round(fps)} fps`;
}

export function CameraHealth({ camera, now, badge = true }: { camera: CameraPublic; now: Date; badge?: boolean }) {
  // A streaming camera says so with its rates: its last frame's age would only be the report's (a device reports
  // every 30 s and on a change). One that is not streaming has no rate to speak of, and when it last sent a frame
  // is what matters.
  const streaming = camera.state === "streaming";
  const rates = streaming ? [formatFps(camera.fps), formatBitrate(camera.bitrate_bps)].filter(Boolean) : [];
  const facts = rates.length ? rates : [`last frame ${formatRelative(camera.last_frame_at, now)}`];
  return (
    <div className="camera-health small" data-testid="camera-health">
      {badge && <CameraStateBadge state={camera.state} />}
      <span className="muted">{facts.join(" · ")}</span>
      {camera.reason && (
        <span className={camera.state === "streaming" ? "muted" : "camera-health-reason"} data-testid="camera-reason">
          Last error: {camera.reason}
        </span>
      )}
    </div>
  );
}
