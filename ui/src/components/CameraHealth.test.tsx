// @vitest-environment happy-dom
// A camera's health line: a streaming camera by its rates (its last frame's age would be the report's), one that is
// not by when it last sent a frame and its last error.
import { afterEach, describe, expect, it } from "vitest";
import type { CameraPublic } from "../api/types";
import { mount, type Mounted } from "../testDom";
import { CameraHealth } from "./CameraHealth";

const now = new Date("2026-06-01T12:00:00Z");
const camera: CameraPublic = {
  id: "cam-1", device_id: "edge-home", name: "porch", display_name: "Porch", state: "streaming",
  last_frame_at: "2026-06-01T11:59:43Z", fps: 10, bitrate_bps: 801_000, reason: null,
};

let page: Mounted;
afterEach(() => page.unmount());

describe("camera health", () => {
  it("shows a streaming camera's rates, not the age of its last report", () => {
    page = mount(<CameraHealth camera={camera} now={now} />);
    const text = page.$("[data-testid=camera-health]")!.textContent!;
    expect(text).toContain("10 fps · 801 kbit/s");
    expect(text).not.toContain("last frame");
  });

  it("shows when a camera that is not streaming last sent a frame, and why it stopped", () => {
    page = mount(<CameraHealth camera={{ ...camera, state: "failed", fps: 0, bitrate_bps: 0,
                                          last_frame_at: "2026-06-01T11:55:00Z", reason: "connection refused" }} now={now} />);
    const text = page.$("[data-testid=camera-health]")!.textContent!;
    expect(text).toContain("last frame 5 minutes ago");
    expect(text).not.toContain("fps");
    expect(page.$("[data-testid=camera-reason]")!.textContent).toBe("Last error: connection refused");
  });

  it("falls back to the last frame when a streaming camera's rates are not reported", () => {
    page = mount(<CameraHealth camera={{ ...camera, fps: null, bitrate_bps: null }} now={now} />);
    expect(page.$("[data-testid=camera-health]")!.textContent).toContain("last frame 17 seconds ago");
  });
});
