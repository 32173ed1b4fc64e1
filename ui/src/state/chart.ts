// Events per hour by label for the dashboard chart, from the cloud's hourly counts (UTC hour buckets).
import type { EventCount } from "../api/types";

export interface HourlySeries {
  /** Start of each hour slot, oldest first. */
  slots: Date[];
  labels: string[];
  /** counts[label][slot] */
  counts: Record<string, number[]>;
  totals: number[];
  max: number;
}

export const HOUR_MS = 3_600_000;

/** The `hours` whole hours ending with the current one, oldest first. */
export function hourSlots(now: Date, hours = 24): Date[] {
  const current = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  return Array.from({ length: hours }, (_, i) => new Date(current - (hours - 1 - i) * HOUR_MS));
}

/** Put each label's counts into the slots; "other" takes what the total has beyond the listed labels. */
export function buildSeries(slots: Date[], byLabel: Record<string, EventCount[]>, total?: EventCount[]): HourlySeries {
  const index = new Map(slots.map((slot, i) => [slot.getTime(), i]));
  const place = (rows: EventCount[]): number[] => {
    const values = new Array<number>(slots.length).fill(0);
    for (const row of rows) {
      const i = index.get(Math.floor(Date.parse(row.bucket) / HOUR_MS) * HOUR_MS);
      if (i !== undefined) values[i] = (values[i] ?? 0) + row.count;
    }
    return values;
  };
  const labels = Object.keys(byLabel).sort();
  const counts: Record<string, number[]> = {};
  for (const label of labels) counts[label] = place(byLabel[label] ?? []);
  if (total) {
    const all = place(total);
    const other = all.map((n, i) => Math.max(0, n - labels.reduce((sum, l) => sum + (counts[l]?.[i] ?? 0), 0)));
    if (other.some((n) => n > 0)) {
      counts.other = other;
      labels.push("other");
    }
  }
  const totals = slots.map((_, i) => labels.reduce((sum, l) => sum + (counts[l]?.[i] ?? 0), 0));
  return { slots, labels, counts, totals, max: Math.max(0, ...totals) };
}

/** A round axis maximum ≥ max (1, 2, 5 × 10ⁿ), at least 1. */
export function niceMax(max: number): number {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** The most frequent labels first, at most `limit` of them. */
export function topLabels(labels: string[], limit = 5): string[] {
  const tally = new Map<string, number>();
  for (const label of labels) tally.set(label, (tally.get(label) ?? 0) + 1);
  return [...tally.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, limit).map(([l]) => l);
}

/**
 * Split counts grouped by label (`GET /events/counts?group_by=label`) into a series per label for the
 * `limit` labels with the most events (ties by name) and the total over all labels, for `buildSeries`.
 */
export function splitByLabel(rows: EventCount[], limit = 5): { byLabel: Record<string, EventCount[]>; total: EventCount[] } {
  const tally = new Map<string, number>();
  for (const row of rows) tally.set(row.label ?? "", (tally.get(row.label ?? "") ?? 0) + row.count);
  const top = [...tally.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([label]) => label);
  const byLabel: Record<string, EventCount[]> = Object.fromEntries(top.map((label) => [label, []]));
  for (const row of rows) byLabel[row.label ?? ""]?.push(row);
  return { byLabel, total: rows.map(({ bucket, count }) => ({ bucket, count })) };
}

export function sumCounts(rows: EventCount[]): number {
  return rows.reduce((sum, row) => sum + row.count, 0);
}
