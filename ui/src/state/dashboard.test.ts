import { describe, expect, it } from "vitest";
import type { CameraPublic, EventCount, EventFilters } from "../api/types";
import { loadDashboard } from "./dashboard";

describe("dashboard", () => {
  it("counts cameras, today's events and per-label hourly series from the cloud's answers", async () => {
    const now = new Date("2024-05-01T12:30:00Z");
    const queries: (EventFilters & { bucket: string })[] = [];
    const camera = (name: string, state: string): CameraPublic =>
      ({ id: name, device_id: "d", name, display_name: "", state, last_frame_at: null });
    const api = {
      cameras: { list: async () => [camera("porch", "streaming"), camera("yard", "failed")] },
      devices: { list: async () => [] },
      events: {
        list: async () => ({
          items: ["person", "person", "car"].map((label, i) => ({
            id: String(i), device_id: "d", camera: "porch", label, start_at: "2024-05-01T12:00:00Z", end_at: null,
            confidence: "high" as const, has_clip: true,
          })),
          next_cursor: null,
        }),
        counts: async (bucket: "hour" | "day", filters: EventFilters = {}): Promise<EventCount[]> => {
          queries.push({ bucket, ...filters });
          const n = filters.label === "person" ? 2 : filters.label === "car" ? 1 : 4;
          return [{ bucket: "2024-05-01T12:00:00Z", count: n }];
        },
      },
    } as unknown as Parameters<typeof loadDashboard>[0];
    const dash = await loadDashboard(api, now);
    expect(dash.camerasOnline).toBe(1);
    expect(dash.cameras).toHaveLength(2);
    expect(dash.eventsToday).toBe(4);
    expect(dash.series.labels).toEqual(["car", "person", "other"]);
    expect(dash.series.totals[23]).toBe(4);
    expect(queries.filter((q) => q.label).map((q) => q.label).sort()).toEqual(["car", "person"]);
    expect(queries.every((q) => q.bucket === "hour" && q.since && q.until)).toBe(true);
  });
});
