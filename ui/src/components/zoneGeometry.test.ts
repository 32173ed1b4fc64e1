// The zone editor's geometry: screen pixels become fractions of the picture (clamped, rounded, onto an edge
// within a few pixels of it), points are grabbed within a fingertip's reach in pixels whatever the picture's
// size, and a shape closes on its first point only once it has three.
import { describe, expect, it } from "vitest";
import {
  closePolygon,
  closesShape,
  hitPoint,
  movePoint,
  nextName,
  normalise,
  removePoint,
  type Polygon,
} from "./zoneGeometry";

const box = { left: 100, top: 50, width: 800, height: 450 };
const square: Polygon = { name: "drive", points: [{ x: 0.1, y: 0.1 }, { x: 0.5, y: 0.1 }, { x: 0.5, y: 0.5 }, { x: 0.1, y: 0.5 }] };

describe("normalise", () => {
  it("maps page pixels to fractions of the surface", () => {
    expect(normalise(100, 50, box)).toEqual({ x: 0, y: 0 });
    expect(normalise(500, 275, box)).toEqual({ x: 0.5, y: 0.5 });
    expect(normalise(900, 500, box)).toEqual({ x: 1, y: 1 });
  });

  it("clamps positions past the edges (a drag out of the picture) and rounds to four decimals", () => {
    expect(normalise(40, 900, box)).toEqual({ x: 0, y: 1 });
    expect(normalise(100 + 800 / 3, 50, box)).toEqual({ x: 0.3333, y: 0 });
  });

  it("puts a point within a few pixels of an edge onto it (a mask drawn to the edge covers the edge)", () => {
    expect(normalise(100 + 5, 50 + 450 - 2, box)).toEqual({ x: 0, y: 1 });
    expect(normalise(900 - 6, 50 + 6, box)).toEqual({ x: 1, y: 0 });
    expect(normalise(100 + 8, 50 + 450 - 9, box)).toEqual({ x: 0.01, y: 0.98 }); // further in: where it was put
  });

  it("gives the origin for a surface with no size (not laid out yet)", () => {
    expect(normalise(10, 10, { left: 0, top: 0, width: 0, height: 0 })).toEqual({ x: 0, y: 0 });
  });
});

describe("hitPoint", () => {
  const areas = { zone: [square], mask: [{ name: "street", points: [{ x: 0.52, y: 0.5 }, { x: 0.9, y: 0.5 }, { x: 0.9, y: 0.9 }] }] };

  it("finds the point within the radius in pixels", () => {
    // (0.5, 0.1) is at 400 px, 45 px; 10 px to the right is still that point.
    expect(hitPoint(areas, { x: 0.5 + 10 / 800, y: 0.1 }, box)).toEqual({ kind: "zone", polygon: 0, point: 1 });
    expect(hitPoint(areas, { x: 0.5 + 20 / 800, y: 0.1 }, box)).toBeNull();
  });

  it("picks the nearest of two close points, across zones and masks", () => {
    // The zone's (0.5, 0.5) and the mask's (0.52, 0.5) are 16 px apart: each end grabs its own.
    expect(hitPoint(areas, { x: 0.505, y: 0.5 }, box)).toEqual({ kind: "zone", polygon: 0, point: 2 });
    expect(hitPoint(areas, { x: 0.515, y: 0.5 }, box)).toEqual({ kind: "mask", polygon: 0, point: 0 });
  });

  it("measures in pixels of this surface: a phone-sized picture needs a nearer touch in fractions", () => {
    const phone = { width: 360, height: 203 };
    expect(hitPoint(areas, { x: 0.5 + 10 / 800, y: 0.1 }, phone)).not.toBeNull(); // 4.5 px away on the phone
    expect(hitPoint(areas, { x: 0.5 + 0.05, y: 0.1 }, phone)).toBeNull(); // 18 px away
  });
});

describe("closing a shape", () => {
  const drawing = [{ x: 0.1, y: 0.1 }, { x: 0.4, y: 0.1 }, { x: 0.4, y: 0.4 }];

  it("closes on a click at the first point once there are three points", () => {
    expect(closesShape(drawing, { x: 0.1 + 5 / 800, y: 0.1 }, box)).toBe(true);
    expect(closesShape(drawing.slice(0, 2), { x: 0.1, y: 0.1 }, box)).toBe(false);
    expect(closesShape(drawing, { x: 0.2, y: 0.1 }, box)).toBe(false);
  });

  it("makes a named polygon of three to 64 points only", () => {
    expect(closePolygon(drawing, "zone-1")).toEqual({ name: "zone-1", points: drawing });
    expect(closePolygon(drawing.slice(0, 2), "zone-1")).toBeNull();
    expect(closePolygon(Array.from({ length: 65 }, () => ({ x: 0, y: 0 })), "zone-1")).toBeNull();
  });

  it("names new shapes with the first free number of their kind", () => {
    expect(nextName("zone", [])).toBe("zone-1");
    expect(nextName("mask", ["mask-1", "zone-2", "mask-3"])).toBe("mask-2");
  });
});

describe("editing points", () => {
  it("moves a point and keeps it on the picture", () => {
    expect(movePoint(square, 0, { x: -0.2, y: 0.25 }).points[0]).toEqual({ x: 0, y: 0.25 });
    expect(square.points[0]).toEqual({ x: 0.1, y: 0.1 }); // the original is untouched
  });

  it("removes a point but never below three", () => {
    const three = removePoint(square, 3)!;
    expect(three.points).toHaveLength(3);
    expect(removePoint(three, 0)).toBeNull();
  });
});
