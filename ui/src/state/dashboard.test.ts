import { describe, expect, it } from "vitest";
import type { CameraPublic, EventCount, EventFilters } from "../api/types";
import { splitByLabel } from "./chart";
import { loadDashboard } from "./dashboard";

describe("dashboard", () => {
  it("counts cameras, today's events and per-label hourly series from one grouped count query", async () => {
    const now = new Date("2024-05-01T12:30:00Z");
    const queries: (EventFilters & { bucket: string; groupBy?: string })[] = [];
    const camera = (name: string, state: string): CameraPublic =>
      ({ id: name, device_id: "d", name, display_name: "", state, last_frame_at: null });
    const api = {
      cameras: { list: async () => [camera("porch", "streaming"), camera("yard", "failed")] },
      devices: { list: async () => [] },
      events: {
        list: async () => {
          throw new Error("the dashboard needs no event page");
        },
        counts: async (bucket: "hour" | "day", filters: EventFilters = {}, groupBy?: "label"): Promise<EventCount[]> => {
          queries.push({ bucket, ...filters, ...(groupBy ? { groupBy } : {}) });
          if (!groupBy) return [{ bucket: "2024-05-01T12:00:00Z", count: 4 }];
          return [
            { bucket: "2024-05-01T11:00:00Z", label: "person", count: 1 },
            { bucket: "2024-05-01T12:00:00Z", label: "car", count: 1 },
            { bucket: "2024-05-01T12:00:00Z", label: "person", count: 2 },
          ];
        },
      },
    } as unknown as Parameters<typeof loadDashboard>[0];
    const dash = await loadDashboard(api, now);
    expect(dash.camerasOnline).toBe(1);
    expect(dash.cameras).toHaveLength(2);
    expect(dash.eventsToday).toBe(4);
    expect(dash.series.labels).toEqual(["car", "person"]);
    expect(dash.series.counts.person!.slice(-2)).toEqual([1, 2]);
    expect(dash.series.totals.slice(-2)).toEqual([1, 3]);
    // Two count queries in all: today's total, and the chart's grouped by label over the 24 slots.
    expect(queries).toHaveLength(2);
    const chart = queries.find((q) => q.groupBy === "label")!;
    expect(chart).toMatchObject({ bucket: "hour", since: "2024-04-30T13:00:00.000Z", until: "2024-05-01T13:00:00.000Z" });
    expect(queries.every((q) => q.bucket === "hour" && q.since && q.until && !q.label)).toBe(true);
  });

  it("keeps the labels with the most events and puts the rest into other", () => {
    const at = (hour: number) => `2024-05-01T${String(hour).padStart(2, "0")}:00:00Z`;
    const rows: EventCount[] = [
      { bucket: at(10), label: "person", count: 5 },
      { bucket: at(10), label: "cat", count: 1 },
      { bucket: at(11), label: "car", count: 3 },
      { bucket: at(11), label: "dog", count: 1 },
      { bucket: at(11), label: "person", count: 1 },
    ];
    const { byLabel, total } = splitByLabel(rows, 2);
    expect(Object.keys(byLabel).sort()).toEqual(["car", "person"]);
    expect(byLabel.person!.map((r) => r.count)).toEqual([5, 1]);
    expect(total).toEqual(rows.map(({ bucket, count }) => ({ bucket, count })));
  });
});
