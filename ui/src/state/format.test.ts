import { describe, expect, it } from "vitest";
import { buildSeries, hourSlots, niceMax, topLabels } from "./chart";
import { dayKey, formatBytes, formatDateTime, formatDay, formatDuration, formatLabel, formatLabels, formatRelative, formatTime } from "./format";

describe("formatting in the viewer's zone", () => {
  const iso = "2024-03-10T23:30:00Z";

  it("formats times in the given zone", () => {
    expect(formatTime(iso, { locale: "en-GB", timeZone: "UTC" })).toBe("23:30:00");
    expect(formatTime(iso, { locale: "en-GB", timeZone: "Europe/Berlin" })).toBe("00:30:00");
    expect(formatDateTime(iso, { locale: "en-GB", timeZone: "Asia/Tokyo" })).toBe("11 Mar 2024, 08:30:00");
    expect(dayKey(iso, { timeZone: "America/New_York" })).toBe("2024-03-10");
    expect(dayKey(iso, { timeZone: "Europe/Berlin" })).toBe("2024-03-11");
  });

  it("names days relative to today", () => {
    const now = new Date("2024-03-11T08:00:00Z");
    expect(formatDay("2024-03-11T01:00:00Z", now, { timeZone: "UTC" })).toBe("Today");
    expect(formatDay("2024-03-10T01:00:00Z", now, { timeZone: "UTC" })).toBe("Yesterday");
    // ICU versions differ in punctuation ("Friday, 1 March 2024" vs "Friday 1 March 2024").
    expect(formatDay("2024-03-01T01:00:00Z", now, { locale: "en-GB", timeZone: "UTC" })).toMatch(/^Friday,? 1 March 2024$/);
  });

  it("formats labels, durations, sizes and relative times", () => {
    expect(formatLabel("traffic_light")).toBe("Traffic light");
    expect(formatLabel("person")).toBe("Person");
    expect(formatLabels(["truck", "car", "person", "dog"])).toBe("Person, Truck, Car, Dog");
    expect(formatLabels(["car", "traffic_light"])).toBe("Car, Traffic light");
    expect(formatLabels([])).toBe("");
    expect(formatDuration("2024-01-01T00:00:00Z", "2024-01-01T00:01:05Z")).toBe("1 min 5 s");
    expect(formatDuration("2024-01-01T00:00:00Z", null)).toBeNull();
    expect(formatBytes(5 * 1024 ** 3, { locale: "en" })).toBe("5.4 GB");
    const now = new Date("2024-01-01T12:00:00Z");
    expect(formatRelative("2024-01-01T11:57:00Z", now, { locale: "en" })).toBe("3 minutes ago");
    expect(formatRelative(null, now)).toBe("never");
  });
});

describe("hourly chart series", () => {
  const now = new Date("2024-01-01T12:34:00Z");

  it("has 24 whole-hour slots ending with the current hour", () => {
    const slots = hourSlots(now);
    expect(slots).toHaveLength(24);
    expect(slots[23]!.toISOString()).toBe("2024-01-01T12:00:00.000Z");
    expect(slots[0]!.toISOString()).toBe("2023-12-31T13:00:00.000Z");
  });

  it("stacks labels per hour and puts the rest of the total under other", () => {
    const slots = hourSlots(now, 3);
    const series = buildSeries(slots, {
      person: [{ bucket: "2024-01-01T12:00:00Z", count: 3 }],
      car: [{ bucket: "2024-01-01T10:00:00+00:00", count: 1 }, { bucket: "2023-01-01T00:00:00Z", count: 9 }],
    }, [{ bucket: "2024-01-01T12:00:00Z", count: 5 }, { bucket: "2024-01-01T10:00:00Z", count: 1 }]);
    expect(series.labels).toEqual(["car", "person", "other"]);
    expect(series.counts.person).toEqual([0, 0, 3]);
    expect(series.counts.car).toEqual([1, 0, 0]);
    expect(series.counts.other).toEqual([0, 0, 2]);
    expect(series.totals).toEqual([1, 0, 5]);
    expect(series.max).toBe(5);
  });

  it("picks round axis maxima and the most frequent labels", () => {
    expect([0, 1, 3, 7, 12, 95].map(niceMax)).toEqual([1, 1, 5, 10, 20, 100]);
    expect(topLabels(["car", "person", "person", "dog", "car", "person"], 2)).toEqual(["person", "car"]);
  });
});
