import { describe, expect, it } from "vitest";
import { checklistSteps } from "./FirstRunChecklist";

describe("checklistSteps", () => {
  it("leads from no device to a camera to the first event", () => {
    const done = (s: ReturnType<typeof checklistSteps>) => s.map((step) => [step.id, step.done]);
    expect(done(checklistSteps({ devices: 0, cameras: 0, hasEvents: false }))).toEqual([["device", false], ["camera", false], ["event", false]]);
    expect(done(checklistSteps({ devices: 1, cameras: 0, hasEvents: false }))).toEqual([["device", true], ["camera", false], ["event", false]]);
    expect(done(checklistSteps({ devices: 1, cameras: 2, hasEvents: true })).every(([, d]) => d)).toBe(true);
    const [device, camera, event] = checklistSteps({ devices: 0, cameras: 0, hasEvents: false });
    expect([device!.to, camera!.to, event!.to]).toEqual(["/devices", "/cameras", undefined]);
  });
});
