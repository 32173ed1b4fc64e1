import { describe, expect, it } from "vitest";
import { labelStep } from "./HourlyChart";

describe("labelStep", () => {
  it("labels fewer hours as the chart narrows, keeping labels apart", () => {
    expect(labelStep(680 / 24)).toBe(2); // desktop: every other hour
    expect(labelStep(350 / 24)).toBe(4); // phone: every four hours
    expect(labelStep(50)).toBe(1);
    expect(labelStep(0.5)).toBe(24);
  });
});
