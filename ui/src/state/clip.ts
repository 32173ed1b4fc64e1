// The clip player's states and how to reach them: token from the cloud → probe the relay → play.
// A refused token (401/403) is renewed once; after that the viewer gets a message, not a loop.
import { ApiError } from "../api/errors";
import { mediaUrl, type MediaOutcome } from "../api/media";
import type { ClipTokenPublic, DevicePublic, EventPublic } from "../api/types";

export type ClipState =
  | { kind: "loading" }
  /** No clip yet, but one is still expected: the event goes on, or ended moments ago (see clipPending). */
  | { kind: "pending"; ongoing: boolean }
  | { kind: "ready"; src: string; downloadUrl: string; expiresAt: string }
  | { kind: "no-clip" }
  | { kind: "no-relay" }
  | { kind: "device-offline"; lastSeen: string | null }
  | { kind: "expired" }
  | { kind: "gone" }
  | { kind: "unreachable" }
  | { kind: "error"; error: unknown };

export interface ClipDeps {
  token: (eventId: string, fresh: boolean) => Promise<ClipTokenPublic>;
  probe: (url: string) => Promise<MediaOutcome>;
}

/** How long after its end an event's clip is still expected (post-roll, assembly on the device, forwarding). */
export const CLIP_PENDING_MS = 5 * 60_000;

/**
 * An event the relay reported without a clip gets one in a later version (same id) once the device has
 * put it together after the event's end: until then, "pending" rather than "no clip". Null when no clip
 * is expected any more (or there is one).
 */
export function clipPending(event: Pick<EventPublic, "has_clip" | "end_at">, now: number = Date.now()): ClipState | null {
  if (event.has_clip) return null;
  if (event.end_at === null) return { kind: "pending", ongoing: true };
  return now - Date.parse(event.end_at) < CLIP_PENDING_MS ? { kind: "pending", ongoing: false } : null;
}

/** Only the event's id and whether it has a clip matter here (a later end or confidence changes nothing). */
export async function loadClip(event: Pick<EventPublic, "id" | "has_clip">, device: DevicePublic | null, deps: ClipDeps): Promise<ClipState> {
  if (!event.has_clip) return { kind: "no-clip" };
  if (device?.status === "offline") return { kind: "device-offline", lastSeen: device.last_seen_at };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    let grant: ClipTokenPublic;
    try {
      grant = await deps.token(event.id, attempt > 0);
    } catch (error) {
      if (error instanceof ApiError && error.code === "no_relay") return { kind: "no-relay" };
      if (error instanceof ApiError && error.code === "no_clip") return { kind: "no-clip" };
      return { kind: "error", error };
    }
    const src = mediaUrl(grant, event.id, "clip");
    const outcome = await deps.probe(src);
    switch (outcome) {
      case "ok":
        return { kind: "ready", src, downloadUrl: mediaUrl(grant, event.id, "clip", { download: true }), expiresAt: grant.expires_at };
      case "expired":
        continue; // renew the token once
      case "gone":
        return { kind: "gone" };
      case "offline":
        return { kind: "device-offline", lastSeen: device?.last_seen_at ?? null };
      case "unreachable":
        return { kind: "unreachable" };
      case "error":
        return { kind: "error", error: new ApiError(502, "relay_error", "the relay could not serve this clip") };
    }
  }
  return { kind: "expired" };
}

/** The message shown for each state that is not playing. */
export function clipMessage(state: ClipState): { title: string; body: string } | null {
  switch (state.kind) {
    case "loading":
    case "ready":
      return null;
    case "pending":
      return state.ongoing
        ? { title: "The event has not ended yet", body: "Your device puts its clip together once it ends. The clip appears here by itself, no need to reload." }
        : {
            title: "The clip is being prepared",
            body: "Your device puts the clip together shortly after the event ends (usually within a minute or two). It appears here by itself, no need to reload.",
          };
    case "no-clip":
      return { title: "No clip for this event", body: "The camera recorded no video for this event." };
    case "no-relay":
      return { title: "Video is not available yet", body: "Your home has no relay assigned, so video cannot be fetched. Contact support." };
    case "device-offline":
      return {
        title: "The device at home is offline",
        body: "Clips stay on your device and are fetched only when you watch them. Check that the device is powered and online, then try again.",
      };
    case "expired":
      return { title: "Access to this clip has expired", body: "The viewing permission ran out. Reload the page to get a new one." };
    case "gone":
      return { title: "This clip is no longer on the device", body: "It was removed by the device's retention (oldest clips are deleted first when space runs low)." };
    case "unreachable":
      return { title: "Your relay cannot be reached", body: "The relay that connects you to your device is not answering. Try again in a minute; if it persists, contact support." };
    case "error":
      return { title: "The clip could not be loaded", body: "Try again. If it keeps failing, the device may be busy or restarting." };
  }
}
