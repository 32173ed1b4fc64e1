// Everything a person reads is formatted with Intl in the viewer's own locale and time zone;
// `zone`/`locale` parameters exist for tests.

export interface FormatOptions {
  locale?: string;
  timeZone?: string;
}

export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function formatDateTime(iso: string, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(options.locale, { dateStyle: "medium", timeStyle: "medium", timeZone: options.timeZone })
    .format(new Date(iso));
}

export function formatTime(iso: string, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(options.locale, { timeStyle: "medium", timeZone: options.timeZone }).format(new Date(iso));
}

export function formatHour(date: Date, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(options.locale, { hour: "numeric", minute: "2-digit", timeZone: options.timeZone }).format(date);
}

/** "Today", "Yesterday" or a date, for grouping the timeline by day in the viewer's zone. */
export function dayKey(iso: string, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: options.timeZone })
    .format(new Date(iso));
}

export function formatDay(iso: string, now: Date = new Date(), options: FormatOptions = {}): string {
  const key = dayKey(iso, options);
  if (key === dayKey(now.toISOString(), options)) return "Today";
  if (key === dayKey(new Date(now.getTime() - 86_400_000).toISOString(), options)) return "Yesterday";
  return new Intl.DateTimeFormat(options.locale, { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: options.timeZone })
    .format(new Date(iso));
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];

export function formatRelative(iso: string | null, now: Date = new Date(), options: FormatOptions = {}): string {
  if (!iso) return "never";
  const seconds = Math.round((Date.parse(iso) - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(options.locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") return rtf.format(Math.trunc(seconds / size), unit);
  }
  return rtf.format(0, "second");
}

export function formatDuration(startIso: string, endIso: string | null): string | null {
  if (!endIso) return null;
  const seconds = Math.max(0, Math.round((Date.parse(endIso) - Date.parse(startIso)) / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

/** "person" → "Person", "traffic_light" → "Traffic light". */
export function formatLabel(label: string): string {
  const words = label.replace(/[_-]+/g, " ").trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : label;
}

/** An item's labels for its one-line title: people first (what an owner looks for, and a long title is cut
 * at its end on a phone), the rest in the order given. */
export function formatLabels(labels: readonly string[]): string {
  const people = labels.filter((label) => label === "person");
  return [...people, ...labels.filter((label) => label !== "person")].map(formatLabel).join(", ");
}

export function formatBytes(bytes: number, options: FormatOptions = {}): string {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte"] as const;
  let value = bytes;
  let index = 0;
  while (value >= 1000 && index < units.length - 1) {
    value /= 1000;
    index += 1;
  }
  return new Intl.NumberFormat(options.locale, {
    style: "unit", unit: units[index], unitDisplay: index === 0 ? "long" : "short", maximumFractionDigits: value < 10 && index > 0 ? 1 : 0,
  }).format(value);
}

/** Midnight today in the viewer's zone (the start of "events today"). */
export function startOfLocalDay(now: Date = new Date()): Date {
  const day = new Date(now);
  day.setHours(0, 0, 0, 0);
  return day;
}
