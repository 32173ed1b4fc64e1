// What the dashboard shows, gathered in one place (and testable with a fake API).
import type { Api } from "../api";
import { isCameraOnline } from "../api/cameras";
import type { CameraPublic, DevicePublic } from "../api/types";
import { buildSeries, hourSlots, HOUR_MS, splitByLabel, sumCounts, type HourlySeries } from "./chart";
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
 * The chart comes from one query, the last 24 hours' counts per hour and label (`group_by=label`): the
 * labels with the most events get their own series, "other" takes the rest.
 */
export async function loadDashboard(api: DashboardApi, now: Date = new Date()): Promise<Dashboard> {
  const slots = hourSlots(now, 24);
  const since = new Date(slots[0]!.getTime()).toISOString();
  const until = new Date(slots[slots.length - 1]!.getTime() + HOUR_MS).toISOString();
  const [cameras, devices, today, grouped] = await Promise.all([
    api.cameras.list(),
    api.devices.list(),
    api.events.counts("hour", { since: startOfLocalDay(now).toISOString(), until: now.toISOString() }),
    api.events.counts("hour", { since, until }, "label"),
  ]);
  const { byLabel, total } = splitByLabel(grouped, MAX_LABELS);
  return {
    cameras,
    camerasOnline: cameras.filter(isCameraOnline).length,
    devices,
    eventsToday: sumCounts(today),
    series: buildSeries(slots, byLabel, total),
  };
}
