// The zone and mask editor's geometry, apart from React: points are stored normalised (0..1 of the picture's
// width and height, as config.proto's Polygon says), while hit-testing happens in screen pixels so a point
// is as easy to grab on a phone as on a wide screen.
import type { CameraConfig } from "../api/deviceConfig";

export type Polygon = NonNullable<NonNullable<CameraConfig["detection"]>["zones"]>[number];
export type Point = Polygon["points"][number];
export type AreaKind = "zone" | "mask";

/** Where the drawing surface is on screen (a DOMRect's fields). */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The cloud takes at most 64 points per polygon and needs 3 (cloud/api/schemas.py ConfigPolygon). */
export const MIN_POINTS = 3;
export const MAX_POINTS = 64;
/** How near (in CSS pixels) a pointer must be to grab a point; about a fingertip. */
export const HIT_RADIUS_PX = 14;

const clamp = (value: number) => Math.min(1, Math.max(0, value));
/** Four decimals: a tenth of a pixel on a 4K picture, and short JSON. */
const round = (value: number) => Math.round(value * 10_000) / 10_000;

/** How near (in CSS pixels) to the picture's edge a point goes onto it: the last pixel is hard to hit, and a mask
 *  drawn "to the edge" must cover it (the edge drops a person whose feet are on the mask, and at the bottom
 *  edge feet are on the last row). */
export const EDGE_SNAP_PX = 6;

function snapped(offsetPx: number, sizePx: number): number {
  if (offsetPx <= EDGE_SNAP_PX) return 0;
  if (offsetPx >= sizePx - EDGE_SNAP_PX) return 1;
  return round(offsetPx / sizePx);
}

/** A pointer position in page pixels as a point of the picture (clamped to its edges, and onto an edge when
 *  within EDGE_SNAP_PX of it). */
export function normalise(clientX: number, clientY: number, box: Box): Point {
  if (box.width <= 0 || box.height <= 0) return { x: 0, y: 0 };
  return { x: snapped(clientX - box.left, box.width), y: snapped(clientY - box.top, box.height) };
}

/** A point of the picture in pixels of the surface (relative to its top-left corner). */
export function toPixels(point: Point, box: Pick<Box, "width" | "height">): { x: number; y: number } {
  return { x: point.x * box.width, y: point.y * box.height };
}

function distancePx(a: Point, b: Point, box: Pick<Box, "width" | "height">): number {
  return Math.hypot((a.x - b.x) * box.width, (a.y - b.y) * box.height);
}

export interface PointHit {
  kind: AreaKind;
  polygon: number;
  point: number;
}

/** The nearest point within `radius` pixels of `at`, over all zones and masks; null when none is near. */
export function hitPoint(areas: Record<AreaKind, Polygon[]>, at: Point, box: Pick<Box, "width" | "height">,
                         radius = HIT_RADIUS_PX): PointHit | null {
  let best: (PointHit & { distance: number }) | null = null;
  for (const kind of ["zone", "mask"] as const) {
    areas[kind].forEach((polygon, p) => {
      polygon.points.forEach((point, i) => {
        const distance = distancePx(point, at, box);
        if (distance <= radius && (!best || distance < best.distance)) best = { kind, polygon: p, point: i, distance };
      });
    });
  }
  if (!best) return null;
  const { kind, polygon, point } = best;
  return { kind, polygon, point };
}

/** Whether a click at `at` closes the shape being drawn: it has enough points and `at` is on its first one. */
export function closesShape(drawing: Point[], at: Point, box: Pick<Box, "width" | "height">, radius = HIT_RADIUS_PX): boolean {
  return drawing.length >= MIN_POINTS && distancePx(drawing[0]!, at, box) <= radius;
}

/** The first free "zone-N" / "mask-N" name. */
export function nextName(kind: AreaKind, taken: string[]): string {
  for (let n = 1; ; n += 1) {
    const name = `${kind}-${n}`;
    if (!taken.includes(name)) return name;
  }
}

/** A finished shape, or why it cannot be one yet. */
export function closePolygon(drawing: Point[], name: string): Polygon | null {
  if (drawing.length < MIN_POINTS || drawing.length > MAX_POINTS) return null;
  return { name, points: drawing.map((p) => ({ x: p.x, y: p.y })) };
}

/** Move one point (by drag or arrow keys), kept on the picture. */
export function movePoint(polygon: Polygon, index: number, to: Point): Polygon {
  return { ...polygon, points: polygon.points.map((p, i) => (i === index ? { x: round(clamp(to.x)), y: round(clamp(to.y)) } : p)) };
}

/** Remove one point; null when the polygon would have fewer than three (remove the polygon instead). */
export function removePoint(polygon: Polygon, index: number): Polygon | null {
  if (polygon.points.length <= MIN_POINTS) return null;
  return { ...polygon, points: polygon.points.filter((_, i) => i !== index) };
}

/** SVG "points" attribute in the 0..1 viewBox. */
export function svgPoints(points: Point[]): string {
  return points.map((p) => `${p.x},${p.y}`).join(" ");
}
