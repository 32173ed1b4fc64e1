// The operator's fleet page as pure functions: which devices a status filter keeps, and the words and
// tones of the relays' statuses and of alert severities.
import type { FleetAlertPublic, FleetDevicePublic, FleetPublic, FleetRelayPublic } from "../api/types";
import type { Tone } from "../components/Feedback";

/** What the device list shows: everything, what needs attention, or one reported status. */
export type FleetFilter = "all" | "attention" | "healthy" | "degraded" | "offline" | "unknown";

export const FLEET_FILTERS: { value: FleetFilter; label: string }[] = [
  { value: "all", label: "All devices" },
  { value: "attention", label: "Needs attention" },
  { value: "healthy", label: "Healthy" },
  { value: "degraded", label: "Degraded" },
  { value: "offline", label: "Offline" },
  { value: "unknown", label: "Unknown" },
];

/** Not healthy, a camera down, or an alert firing about it. */
export function needsAttention(device: FleetDevicePublic): boolean {
  return device.status !== "healthy" || device.cameras_down > 0 || device.alerts.length > 0;
}

export function filterDevices(devices: FleetDevicePublic[], filter: FleetFilter): FleetDevicePublic[] {
  if (filter === "all") return devices;
  if (filter === "attention") return devices.filter(needsAttention);
  if (filter === "unknown") return devices.filter((d) => !["healthy", "degraded", "offline"].includes(d.status));
  return devices.filter((d) => d.status === filter);
}

const RELAY_WORDS: Record<FleetRelayPublic["status"], [string, Tone]> = {
  online: ["Online", "ok"],
  silent: ["Silent", "bad"],
  never_seen: ["Never seen", "muted"],
  disabled: ["Disabled", "muted"],
};

export function relayStatus(status: FleetRelayPublic["status"]): { label: string; tone: Tone } {
  const [label, tone] = RELAY_WORDS[status] ?? [status, "muted"];
  return { label, tone };
}

export function alertTone(alert: FleetAlertPublic): Tone {
  return alert.severity === "critical" ? "bad" : "warn";
}

/** Every firing alert on the page, wherever it sits. */
export function alertCount(fleet: FleetPublic): number {
  return fleet.other_alerts.length
    + fleet.relays.reduce((n, r) => n + r.alerts.length, 0)
    + fleet.devices.reduce((n, d) => n + d.alerts.length, 0);
}

/** A long id (a tenant's UUID) cut to its start; the whole id stays in the title. */
export function shortId(id: string, length = 8): string {
  return id.length > length + 1 ? `${id.slice(0, length)}…` : id;
}
