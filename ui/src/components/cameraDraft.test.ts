// The camera form's model: credentials typed into a URL move to their own fields, the checks say what is
// wrong in words, and what is sent holds the sealed pair only.
import { describe, expect, it } from "vitest";
import type { CameraConfig } from "../api/deviceConfig";
import { sealCredentials, sodium } from "../crypto/seal";
import {
  absorbUrlCredentials,
  buildCamera,
  draftFromCamera,
  emptyDraft,
  inferencesPerFrame,
  splitUrlCredentials,
  suggestName,
  inputSizeFromValue,
  inputSizeValue,
  tileGridValue,
  tilesFromValue,
  validateDraft,
  type CameraDraft,
} from "./cameraDraft";

const KEY = { key_id: "0123456789abcdef", public_key: "" };

function draft(change: Partial<CameraDraft>): CameraDraft {
  return { ...emptyDraft(), name: "porch", url: "rtsp://10.0.0.7:554/live", ...change };
}

describe("splitUrlCredentials", () => {
  it("takes user and password out of the address, percent-decoded", () => {
    expect(splitUrlCredentials("rtsp://admin:p%40ss%3Aw@10.0.0.7:554/Streaming/101?tcp")).toEqual({
      url: "rtsp://10.0.0.7:554/Streaming/101?tcp", username: "admin", password: "p@ss:w",
    });
  });

  it("keeps an unescaped '@' or ':' in the password (the host follows the last '@')", () => {
    expect(splitUrlCredentials("RTSPS://viewer:a@b:c@cam.local/h264")).toEqual({
      url: "rtsps://cam.local/h264", username: "viewer", password: "a@b:c",
    });
  });

  it("finds nothing in an address without user information, or one that is not rtsp", () => {
    expect(splitUrlCredentials("rtsp://10.0.0.7/live@night")).toBeNull(); // '@' in the path is not a login
    expect(splitUrlCredentials("http://u:p@host/")).toBeNull();
    expect(splitUrlCredentials("rtsp://user@host/")).toEqual({ url: "rtsp://host/", username: "user", password: "" });
  });
});

describe("absorbUrlCredentials", () => {
  it("moves the main stream's login to the fields and strips it from both addresses", () => {
    const result = absorbUrlCredentials(draft({ url: "rtsp://admin:secret@10.0.0.7/main", detectUrl: "rtsp://admin:secret@10.0.0.7/sub" }));
    expect(result).toMatchObject({ moved: true, conflict: false });
    expect(result.draft).toMatchObject({ url: "rtsp://10.0.0.7/main", detectUrl: "rtsp://10.0.0.7/sub", username: "admin", password: "secret" });
  });

  it("says when the two addresses hold different logins", () => {
    const result = absorbUrlCredentials(draft({ url: "rtsp://a:1@h/main", detectUrl: "rtsp://b:2@h/sub" }));
    expect(result.conflict).toBe(true);
    expect(result.draft).toMatchObject({ username: "a", password: "1" });
  });
});

describe("validateDraft", () => {
  const context = { otherNames: ["garden"], configKey: KEY };

  it("accepts a plain camera", () => {
    expect(validateDraft(draft({}), context)).toEqual({});
  });

  it("explains each problem next to its field", () => {
    expect(validateDraft(draft({ name: "Front Door" }), context).name).toMatch(/lowercase letters/);
    expect(validateDraft(draft({ name: "garden" }), context).name).toBe("Another camera on this device is called “garden”.");
    expect(validateDraft(draft({ url: "" }), context).url).toBe("Enter the camera's stream address.");
    expect(validateDraft(draft({ url: "http://10.0.0.7/" }), context).url).toMatch(/rtsp:\/\/ or rtsps:\/\//);
    expect(validateDraft(draft({ url: "rtsp://a:b@10.0.0.7/" }), context).url).toMatch(/their own fields/);
    expect(validateDraft(draft({ detectUrl: "rtsp:// x" }), context).detectUrl).toMatch(/leave it empty/);
    expect(validateDraft(draft({ password: "secret" }), context).username).toMatch(/user name that goes with/);
    expect(validateDraft(draft({ username: "a:b", password: "p" }), context).username).toBe("A user name cannot contain “:”.");
    expect(validateDraft(draft({ labels: ["person"], thresholds: { person: "140" } }), context).thresholds).toMatch(/person must be between 0 and 100/);
    expect(validateDraft(draft({ minArea: "100" }), context).minArea).toMatch(/up to \(not including\) 100/);
    expect(validateDraft(draft({ retentionDays: "-1" }), context).retentionDays).toMatch(/0 to 3650/);
  });

  it("says the device must connect before a login can be sealed, and saves without one", () => {
    const noKey = { otherNames: [], configKey: null };
    expect(validateDraft(draft({ username: "admin", password: "secret" }), noKey).password).toMatch(/has not sent its key for camera logins yet/);
    expect(validateDraft(draft({}), noKey)).toEqual({});
  });

  it("asks for the login again when it was sealed to an earlier key", () => {
    const stale = draft({ stored: { record: { ciphertext: "x".repeat(70), key_id: "ffffffffffffffff" }, detect: null } });
    expect(validateDraft(stale, context).password).toMatch(/earlier key/);
    expect(validateDraft({ ...stale, stored: null }, context)).toEqual({});
  });
});

describe("buildCamera", () => {
  it("sends the address without the login and the login sealed, once per stream", async () => {
    const lib = await sodium();
    const pair = lib.crypto_box_keypair();
    const variant = lib.base64_variants.URLSAFE_NO_PADDING;
    const key = { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) };
    const typed = absorbUrlCredentials(draft({
      displayName: " Porch ", url: "rtsp://admin:Sup3r-Secret@10.0.0.7/main", detectUrl: "rtsp://10.0.0.7/sub",
      labels: ["car", "person"], thresholds: { person: "62.5", car: "" }, minArea: "1.5", retentionDays: "7",
    })).draft;
    expect(validateDraft(typed, { otherNames: [], configKey: key })).toEqual({});
    const camera = await buildCamera(typed, (u, p) => sealCredentials(u, p, key));
    expect(JSON.stringify(camera)).not.toContain("Sup3r-Secret");
    expect(camera).toMatchObject({
      name: "porch", display_name: "Porch", enabled: true, retention_days: 7,
      record: { url: "rtsp://10.0.0.7/main" }, detect: { url: "rtsp://10.0.0.7/sub" },
      detection: { labels: ["person", "car"], thresholds: [{ label: "person", min_score: 0.625 }], min_area: 0.015 },
    });
    for (const source of [camera.record, camera.detect!]) {
      const opened = lib.crypto_box_seal_open(lib.from_base64(source.credentials!.ciphertext, variant), pair.publicKey, pair.privateKey, "text");
      expect(opened).toBe("admin:Sup3r-Secret");
    }
  });

  it("keeps stored credentials untouched and drops them when removed", async () => {
    const stored = { ciphertext: "c".repeat(70), key_id: "0123456789abcdef" };
    const saved: CameraConfig = {
      name: "porch", display_name: "", enabled: false, retention_days: 0, record: { url: "rtsp://10.0.0.7/main", credentials: stored },
      detection: { labels: [], thresholds: [], min_area: 0, zones: [{ name: "drive", points: [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }] }], masks: [], input_size: 0 },
    };
    const never = () => Promise.reject(new Error("nothing to seal"));
    const again = await buildCamera(draftFromCamera(saved), never);
    expect(again).toEqual(saved);
    const removed = await buildCamera({ ...draftFromCamera(saved), stored: null }, never);
    expect(removed.record).toEqual({ url: "rtsp://10.0.0.7/main" });
  });
});

describe("alert zones", () => {
  it("round-trips the camera's alert zones and drops one whose zone is gone", async () => {
    const square = [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }];
    const saved: CameraConfig = {
      name: "porch", display_name: "", enabled: true, retention_days: 0, record: { url: "rtsp://10.0.0.7/main" },
      detection: { labels: [], thresholds: [], min_area: 0, masks: [], alert_zones: ["drive"],
                   zones: [{ name: "drive", points: square }, { name: "street", points: square }], input_size: 0 },
    };
    const never = () => Promise.reject(new Error("nothing to seal"));
    expect(await buildCamera(draftFromCamera(saved), never)).toEqual(saved);
    const renamed = { ...draftFromCamera(saved), zones: [{ name: "driveway", points: square }] };
    expect((await buildCamera(renamed, never)).detection).not.toHaveProperty("alert_zones");
    const ticked = { ...draftFromCamera(saved), alertZones: ["drive", "street"] };
    expect((await buildCamera(ticked, never)).detection!.alert_zones).toEqual(["drive", "street"]);
  });
});

describe("suggestName", () => {
  it("turns what people call a camera into a device name", () => {
    expect(suggestName("Front door")).toBe("front-door");
    expect(suggestName("Garten – Süd!")).toBe("garten-sud");
    expect(suggestName("")).toBe("");
  });
});

describe("tiles", () => {
  it("keeps a camera's tiling through an edit and save", async () => {
    const saved: CameraConfig = {
      name: "street", display_name: "", enabled: true, retention_days: 0, record: { url: "rtsp://10.0.0.7/main" },
      detection: { labels: [], thresholds: [], min_area: 0, zones: [], masks: [], tiles: { columns: 2, rows: 1, overlap: 0.2 }, input_size: 0 },
    };
    const never = () => Promise.reject(new Error("nothing to seal"));
    expect(await buildCamera(draftFromCamera(saved), never)).toEqual(saved);
  });

  it("maps the form's grid choice to tiles, keeping an overlap set before, and counts the cost", () => {
    expect(tileGridValue(null)).toBe("");
    expect(tileGridValue({ columns: 1, rows: 1, overlap: 0.2 })).toBe(""); // 1×1 is the whole frame
    expect(tileGridValue({ columns: 3, rows: 2, overlap: 0.2 })).toBe("3x2");
    expect(tilesFromValue("3x2", null)).toEqual({ columns: 3, rows: 2, overlap: 0.2 });
    expect(tilesFromValue("4x4", { columns: 2, rows: 1, overlap: 0.3 })).toEqual({ columns: 4, rows: 4, overlap: 0.3 });
    expect(tilesFromValue("", { columns: 2, rows: 1, overlap: 0.3 })).toBeNull();
    expect(tilesFromValue("5x1", null)).toBeNull(); // past the edge's limit: not a grid
    expect(inferencesPerFrame(null)).toBe(1);
    expect(inferencesPerFrame({ columns: 2, rows: 2, overlap: 0.2 })).toBe(5);
  });
});

describe("input size", () => {
  it("keeps a camera's input size, with its tiles, through an edit and save", async () => {
    const saved: CameraConfig = {
      name: "street", display_name: "", enabled: true, retention_days: 0, record: { url: "rtsp://10.0.0.7/main" },
      detection: { labels: [], thresholds: [], min_area: 0, zones: [], masks: [], tiles: { columns: 2, rows: 1, overlap: 0.2 }, input_size: 640 },
    };
    const never = () => Promise.reject(new Error("nothing to seal"));
    expect(draftFromCamera(saved).inputSize).toBe(640);
    expect(await buildCamera(draftFromCamera(saved), never)).toEqual(saved);
    // Back to the device's default: sent as 0, which the edge reads as its own size.
    const reset = { ...draftFromCamera(saved), inputSize: inputSizeFromValue("") };
    expect((await buildCamera(reset, never)).detection!.input_size).toBe(0);
    // A new camera starts at the default.
    expect((await buildCamera(draft({}), never)).detection!.input_size).toBe(0);
  });

  it("maps the form's choice to a size the cloud takes", () => {
    expect(inputSizeValue(0)).toBe("");
    expect(inputSizeValue(undefined)).toBe("");
    expect(inputSizeValue(512)).toBe("512");
    expect(inputSizeFromValue("320")).toBe(320);
    expect(inputSizeFromValue("640")).toBe(640);
    expect(inputSizeFromValue("600")).toBe(0); // not offered: the default
    expect(inputSizeFromValue("")).toBe(0);
  });
});
