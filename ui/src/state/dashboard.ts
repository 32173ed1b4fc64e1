// What the dashboard shows, gathered in one place (and testable with a fake API).
import type { Api } from "../api";
import { isCameraOnline } from "../api/cameras";
import type { CameraPublic, DevicePublic, EventCount } from "../api/types";
import { buildSeries, hourSlots, HOUR_MS, sumCounts, topLabels, type HourlySeries } from "./chart";
import { startOfLocalDay } from "./format";

export interface Dashboard {
  cameras: CameraPublic[];
  camerasOnline: number;
  devices: DevicePublic[];
  eventsToday: number;
  series: HourlySeries;
}

const MAX_LABELS = 5;

type DashboardApi = Pick<Api, "cameras" | "devices" | "events">;

/**
 * The cloud's counts are per hour but not per label, so: the labels seen in the last 24 hours (from
 * the newest page of events), one count query per label, and "other" for the rest of the total.
 */
export async function loadDashboard(api: DashboardApi, now: Date = new Date()): Promise<Dashboard> {
  const slots = hourSlots(now, 24);
  const since = new Date(slots[0]!.getTime()).toISOString();
  const until = new Date(slots[slots.length - 1]!.getTime() + HOUR_MS).toISOString();
  const [cameras, devices, today, recent, total] = await Promise.all([
    api.cameras.list(),
    api.devices.list(),
    api.events.counts("hour", { since: startOfLocalDay(now).toISOString(), until: now.toISOString() }),
    api.events.list({ since }, null, 200),
    api.events.counts("hour", { since, until }),
  ]);
  const labels = topLabels(recent.items.map((e) => e.label), MAX_LABELS);
  const perLabel = await Promise.all(labels.map((label) => api.events.counts("hour", { since, until, label })));
  const byLabel: Record<string, EventCount[]> = {};
  labels.forEach((label, i) => {
    byLabel[label] = perLabel[i] ?? [];
  });
  return {
    cameras,
    camerasOnline: cameras.filter(isCameraOnline).length,
    devices,
    eventsToday: sumCounts(today),
    series: buildSeries(slots, byLabel, total),
  };
}
