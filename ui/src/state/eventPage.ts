// The event page's logic as pure functions: the download's file name, the previous/next event under the
// list's filters, the keyboard shortcuts, the boxes drawn on the snapshot and the markers on the clip.
import type { EventFilters, EventPage, EventPublic } from "../api/types";

// --- the download's name ---------------------------------------------------------------------------

const UNSAFE = /[^A-Za-z0-9-]+/g;

function namePart(text: string, fallback: string): string {
  return text.replace(UNSAFE, "-").replace(/^-+|-+$/g, "") || fallback;
}

/** `campus_2026-12-02_05-04-18_person.mp4`: camera, the start in the viewer's time, label (what the relay
 * accepts as `name`: letters, digits, `-`, `_` and `.`). */
export function downloadName(camera: string, startIso: string, label: string, extension = "mp4"): string {
  const start = new Date(startIso);
  const pad = (n: number) => String(n).padStart(2, "0");
  const day = `${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())}`;
  const time = `${pad(start.getHours())}-${pad(start.getMinutes())}-${pad(start.getSeconds())}`;
  return `${namePart(camera, "camera")}_${day}_${time}_${namePart(label, "event")}.${extension}`;
}

/** A relay media URL that saves under `name` (the relay sets Content-Disposition from it). */
export function withDownloadName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("name", name);
  return parsed.toString();
}

// --- previous / next ---------------------------------------------------------------------------------

export type ListPage = (filters: EventFilters, cursor: string | null, limit: number) => Promise<EventPage>;

export interface Neighbours {
  /** The row above in the newest-first list (a newer event), or null at the top. */
  previous: EventPublic | null;
  /** The row below (an older event), or null at the bottom. */
  next: EventPublic | null;
}

/** The list's order: newest first, then by id, both descending (the cloud's timeline order). */
function before(a: Pick<EventPublic, "start_at" | "id">, b: Pick<EventPublic, "start_at" | "id">): boolean {
  const at = Date.parse(a.start_at), bt = Date.parse(b.start_at);
  return at !== bt ? at > bt : a.id > b.id;
}

const NEWER_WINDOWS_MS = [60_000, 3_600_000, 86_400_000, 31 * 86_400_000];
const PAGE = 50;

function laterOf(a: string | undefined, b: string): string {
  return a && Date.parse(a) > Date.parse(b) ? a : b;
}

function earlierOf(a: string | undefined, b: string): string {
  return a && Date.parse(a) < Date.parse(b) ? a : b;
}

/**
 * The events above and below `event` in the list under `filters`. The list can only be read newest
 * first: the next one is the first older row; the previous one is the oldest row of the smallest
 * window after the event that holds any (growing windows, so a busy day costs a few small pages).
 */
export async function findNeighbours(event: EventPublic, filters: EventFilters, list: ListPage): Promise<Neighbours> {
  const start = Date.parse(event.start_at);
  // Older: everything starting up to this event's millisecond, then the first row after it in order.
  const olderPage = await list({ ...filters, until: earlierOf(filters.until, new Date(start + 1).toISOString()) }, null, PAGE);
  const next = olderPage.items.find((e) => e.id !== event.id && before(event, e)) ?? null;

  let previous: EventPublic | null = null;
  for (const window of [...NEWER_WINDOWS_MS, Infinity]) {
    const since = laterOf(filters.since, event.start_at);
    const until = window === Infinity ? filters.until : earlierOf(filters.until, new Date(start + window).toISOString());
    let cursor: string | null = null;
    let newer: EventPublic[] = [];
    for (let pages = 0; pages < 20; pages++) {
      const page: EventPage = await list({ ...filters, since, until }, cursor, PAGE);
      newer = newer.concat(page.items.filter((e) => e.id !== event.id && before(e, event)));
      cursor = page.next_cursor ?? null;
      if (!cursor) break;
    }
    if (newer.length > 0) {
      previous = newer[newer.length - 1]!;
      break;
    }
    if (filters.until && until === filters.until) break; // the window already reached the list's end
  }
  return { previous, next };
}

// --- keyboard shortcuts ------------------------------------------------------------------------------

export type Shortcut = "next" | "previous" | "play-pause" | "back" | "forward";

export interface KeyLike {
  key: string;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey?: boolean;
  target: EventTarget | null;
}

const TYPING = new Set(["INPUT", "SELECT", "TEXTAREA"]);
// Space activates these by itself: the shortcut would press them twice.
const SPACE_OWNERS = new Set(["BUTTON", "A", "VIDEO", "SUMMARY"]);

/** What a key press means on the event page: j/k next/previous, space play/pause, ←/→ seek; nothing while
 * typing, with a modifier (the browser's own shortcuts), or where the focused element handles the key. */
export function shortcutFor(key: KeyLike): Shortcut | null {
  if (key.altKey || key.ctrlKey || key.metaKey) return null;
  const element = key.target as { tagName?: string; isContentEditable?: boolean } | null;
  const tag = element?.tagName?.toUpperCase() ?? "";
  if (TYPING.has(tag) || element?.isContentEditable) return null;
  switch (key.key) {
    case "j":
      return "next";
    case "k":
      return "previous";
    case " ":
      return SPACE_OWNERS.has(tag) ? null : "play-pause";
    case "ArrowLeft":
      return tag === "VIDEO" ? null : "back";
    case "ArrowRight":
      return tag === "VIDEO" ? null : "forward";
    default:
      return null;
  }
}

// --- the track: boxes and markers --------------------------------------------------------------------

export type Box = [number, number, number, number];

export interface TrackPoint {
  at: string | null;
  box: Box;
}

/** What the relay's `track.json` answers (boxes normalised to 0..1; the cloud never has them). */
export interface EventTrack {
  event_id: string;
  label: string;
  start: string | null;
  end: string | null;
  clip_duration_s: number;
  best: number | null;
  points: TrackPoint[];
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));

/** A normalised box in pixels of an image `width` × `height`, clamped to the picture, corners in order. */
export function scaleBox(box: Box, width: number, height: number): Rect {
  const [x0, y0, x1, y1] = box.map(clamp01) as Box;
  const left = Math.min(x0, x1), top = Math.min(y0, y1);
  return { x: left * width, y: top * height, width: Math.abs(x1 - x0) * width, height: Math.abs(y1 - y0) * height };
}

/** The box the snapshot shows: the best-scored point's (the edge takes the snapshot there), else the last. */
export function snapshotBox(track: EventTrack): Box | null {
  if (track.points.length === 0) return null;
  const point = track.best !== null && track.points[track.best] ? track.points[track.best]! : track.points[track.points.length - 1]!;
  return point.box;
}

/**
 * Where in the clip (seconds from its start) the object is seen, as spans to mark on the timeline. The
 * clip starts before the event by its pre-roll, which the cloud is not told: it is taken as half of
 * what the clip holds beyond the event (the edge's pre- and post-roll are equal by default).
 */
export function clipMarkers(track: EventTrack, clipDuration: number, gapS = 1.5): { from: number; to: number }[] {
  if (!track.start || clipDuration <= 0) return [];
  const start = Date.parse(track.start);
  const end = track.end ? Date.parse(track.end) : start;
  const preRoll = Math.max(0, (clipDuration - (end - start) / 1000) / 2);
  const times = track.points
    .map((p) => (p.at ? (Date.parse(p.at) - start) / 1000 + preRoll : NaN))
    .filter((t) => Number.isFinite(t) && t >= 0 && t <= clipDuration)
    .sort((a, b) => a - b);
  const spans: { from: number; to: number }[] = [];
  for (const t of times) {
    const last = spans[spans.length - 1];
    if (last && t - last.to <= gapS) last.to = t;
    else spans.push({ from: t, to: t });
  }
  return spans;
}
