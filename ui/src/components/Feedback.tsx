import type { ReactNode } from "react";
import { describeError } from "../api";

export function ErrorNotice({ error, onRetry, title = "That did not work" }: { error: unknown; onRetry?: () => void; title?: string }) {
  if (!error) return null;
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title}</strong>
      <p>{describeError(error)}</p>
      {onRetry && (
        <button type="button" className="button secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export type Tone = "ok" | "warn" | "bad" | "muted";

export function Badge({ tone, children }: { tone: Tone; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

const DEVICE_TONES: Record<string, Tone> = { healthy: "ok", degraded: "warn", offline: "bad" };
const CAMERA_TONES: Record<string, Tone> = { streaming: "ok", connecting: "warn", failed: "bad", disabled: "muted" };
const CAMERA_WORDS: Record<string, string> = {
  streaming: "Online", connecting: "Connecting", failed: "Offline", disabled: "Disabled", unknown: "Unknown",
};

export function DeviceStatusBadge({ status }: { status: string }) {
  return <Badge tone={DEVICE_TONES[status] ?? "muted"}>{status[0]?.toUpperCase() + status.slice(1)}</Badge>;
}

export function CameraStateBadge({ state }: { state: string }) {
  return <Badge tone={CAMERA_TONES[state] ?? "muted"}>{CAMERA_WORDS[state] ?? state}</Badge>;
}
