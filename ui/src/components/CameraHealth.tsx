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
  // A camera that is not streaming has no rate to speak of (its last report says 0).
  const streaming = camera.state === "streaming";
  const facts = [
    streaming ? formatFps(camera.fps) : null,
    streaming ? formatBitrate(camera.bitrate_bps) : null,
    `last frame ${formatRelative(camera.last_frame_at, now)}`,
  ].filter(Boolean);
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
