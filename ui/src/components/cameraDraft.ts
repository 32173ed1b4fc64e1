// The camera form's model, apart from React: a draft camera as the person edits it, the checks with their
// messages, and the CameraConfig sent to the cloud. Credentials typed into a URL (rtsp://user:pass@host/…)
// move to the user name and password fields: the URL is sent without them and the pair only sealed.
import {
  DETECTION_LABELS,
  type CameraConfig,
  type ConfigKey,
  type DetectionLabel,
  type SealedCredentials,
  type StreamSource,
} from "../api/deviceConfig";

export interface CameraDraft {
  /** The camera's name on the device (fixed once saved: events and recordings carry it). */
  name: string;
  displayName: string;
  enabled: boolean;
  url: string;
  /** Optional sub-stream for detection; "" uses the main stream. */
  detectUrl: string;
  /** Typed here: sealed on save, replacing any stored credentials. Both "" keeps what is stored. */
  username: string;
  password: string;
  /** The credentials saved before, as the cloud holds them (sealed); null: none, or removed in this edit. */
  stored: { record: SealedCredentials | null; detect: SealedCredentials | null } | null;
  labels: DetectionLabel[];
  /** Minimum score per label, in percent as typed; "" uses the device's default. */
  thresholds: Partial<Record<DetectionLabel, string>>;
  /** Smallest object in percent of the picture, as typed; "" or 0: the device's default. */
  minArea: string;
  retentionDays: string;
  /** Drawn in the zone editor, normalised 0..1 of the picture (zoneGeometry.ts). */
  zones: NonNullable<CameraConfig["detection"]>["zones"];
  masks: NonNullable<CameraConfig["detection"]>["masks"];
  /** Names of zones where a person or vehicle makes an alert (the rest are detections). */
  alertZones: string[];
  /** What makes an alert in an alert zone; none: a person or any vehicle (the edge's default). */
  alertLabels?: DetectionLabel[];
  /** The whole frame plus overlapping tiles; null or absent: the whole frame only. */
  tiles?: Tiles | null;
  /** The detector's input side in pixels (each tile's too); 0 or absent: the device's default. */
  inputSize?: InputSize;
}

export type InputSize = NonNullable<CameraConfig["detection"]>["input_size"];

/** The input sizes the form offers besides the device's default (0). */
export const INPUT_SIZES: readonly InputSize[] = [320, 416, 512, 640];

/** The select's value for an input size ("" for the device's default) and back; an unknown value is the default. */
export function inputSizeValue(size: InputSize | undefined): string {
  return size ? String(size) : "";
}

export function inputSizeFromValue(value: string): InputSize {
  return INPUT_SIZES.find((size) => String(size) === value) ?? 0;
}

export type Tiles = NonNullable<NonNullable<CameraConfig["detection"]>["tiles"]>;

/** The grids the form offers, columns × rows (the edge takes 1 to 4 of each). */
export const TILE_GRIDS: readonly (readonly [number, number])[] = [[2, 1], [2, 2], [3, 2], [3, 3], [4, 3], [4, 4]];
const DEFAULT_OVERLAP = 0.2; // the edge's own default (agents/edge/detection/tiling.py)

/** The select's value for a grid: "" for the whole frame only (no tiles, or 1×1), else "3x2". */
export function tileGridValue(tiles: Tiles | null | undefined): string {
  return tiles && tiles.columns * tiles.rows > 1 ? `${tiles.columns}x${tiles.rows}` : "";
}

/** The grid a select value stands for; the overlap of the grid it replaces is kept (the API may have set one). */
export function tilesFromValue(value: string, current: Tiles | null | undefined): Tiles | null {
  const match = /^([1-4])x([1-4])$/.exec(value);
  if (!match) return null;
  return { columns: Number(match[1]), rows: Number(match[2]), overlap: current?.overlap ?? DEFAULT_OVERLAP };
}

/** Inferences a frame costs: the whole frame, plus one per tile. */
export function inferencesPerFrame(tiles: Tiles | null | undefined): number {
  return tileGridValue(tiles) ? 1 + tiles!.columns * tiles!.rows : 1;
}

export type DraftField = "name" | "displayName" | "url" | "detectUrl" | "username" | "password" | "thresholds" | "minArea" | "tiles" | "inputSize" | "retentionDays" | "zones";
export type DraftProblems = Partial<Record<DraftField, string>>;

// The cloud's rules (cloud/api/schemas.py: NAME_PATTERN, STREAM_URL_PATTERN), checked here to say what is
// wrong next to the field instead of after a round trip.
const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const STREAM_URL = /^rtsps?:\/\/[^\x00-\x20\x7f/?#@]+([/?#][^\x00-\x20\x7f]*)?$/;
const URL_PARTS = /^(rtsps?:\/\/)([^/?#]*)(.*)$/is;

export function emptyDraft(): CameraDraft {
  return {
    name: "", displayName: "", enabled: true, url: "", detectUrl: "", username: "", password: "", stored: null,
    labels: [], thresholds: {}, minArea: "", retentionDays: "", zones: [], masks: [], alertZones: [], alertLabels: [],
  };
}

function percent(fraction: number): string {
  return String(Math.round(fraction * 1000) / 10);
}

export function draftFromCamera(camera: CameraConfig): CameraDraft {
  const detection = camera.detection;
  const thresholds: CameraDraft["thresholds"] = {};
  for (const t of detection?.thresholds ?? []) thresholds[t.label] = percent(t.min_score);
  const record = camera.record.credentials ?? null;
  const detect = camera.detect?.credentials ?? null;
  return {
    name: camera.name,
    displayName: camera.display_name,
    enabled: camera.enabled,
    url: camera.record.url,
    detectUrl: camera.detect?.url ?? "",
    username: "",
    password: "",
    stored: record || detect ? { record, detect } : null,
    labels: [...(detection?.labels ?? [])],
    thresholds,
    minArea: detection?.min_area ? percent(detection.min_area) : "",
    retentionDays: camera.retention_days ? String(camera.retention_days) : "",
    zones: detection?.zones ?? [],
    masks: detection?.masks ?? [],
    alertZones: [...(detection?.alert_zones ?? [])],
    alertLabels: [...(detection?.alert_labels ?? [])],
    tiles: detection?.tiles ?? null,
    inputSize: detection?.input_size ?? 0,
  };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not percent-encoded after all: take it as typed
  }
}

export interface SplitUrl {
  url: string;
  username: string;
  password: string;
}

/**
 * Take the user information out of an rtsp(s) URL: "rtsp://admin:p%40ss@10.0.0.7/live" gives
 * "rtsp://10.0.0.7/live", "admin" and "p@ss". Null when the URL holds none. The host follows the last "@"
 * of the authority (a password may hold "@"); the user name ends at the first ":".
 */
export function splitUrlCredentials(text: string): SplitUrl | null {
  const parts = URL_PARTS.exec(text.trim());
  if (!parts) return null;
  const [, scheme, authority, rest] = parts as unknown as [string, string, string, string];
  const at = authority.lastIndexOf("@");
  if (at < 0) return null;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(":");
  const username = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const password = colon < 0 ? "" : userinfo.slice(colon + 1);
  return { url: `${scheme.toLowerCase()}${authority.slice(at + 1)}${rest}`, username: decode(username), password: decode(password) };
}

export interface Absorbed {
  draft: CameraDraft;
  /** Credentials were found in a URL and moved to their fields. */
  moved: boolean;
  /** The two URLs held different credentials: one pair serves both streams here. */
  conflict: boolean;
}

/** Move credentials typed into either URL to the user name and password fields. */
export function absorbUrlCredentials(draft: CameraDraft): Absorbed {
  const record = splitUrlCredentials(draft.url);
  const detect = splitUrlCredentials(draft.detectUrl);
  if (!record && !detect) return { draft, moved: false, conflict: false };
  const next = { ...draft };
  if (record) Object.assign(next, { url: record.url, username: record.username, password: record.password });
  if (detect) {
    next.detectUrl = detect.url;
    if (!record) Object.assign(next, { username: detect.username, password: detect.password });
  }
  const conflict = !!record && !!detect && (record.username !== detect.username || record.password !== detect.password);
  return { draft: next, moved: true, conflict };
}

/** A name for the device from what people call the camera: "Front door" → "front-door". */
export function suggestName(displayName: string): string {
  return displayName
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^[-_]+|-+$/g, "")
    .slice(0, 32)
    .replace(/-+$/g, "");
}

function number(text: string): number | null {
  const value = Number(text.trim().replace(",", "."));
  return text.trim() !== "" && Number.isFinite(value) ? value : null;
}

export interface DraftContext {
  /** Names of the device's other cameras (a name is unique per device). */
  otherNames: string[];
  /** The device's config key; null while it has not reported one. */
  configKey: ConfigKey | null;
}

export function hasNewCredentials(draft: CameraDraft): boolean {
  return draft.username !== "" || draft.password !== "";
}

/** What is wrong with the draft, per field, in words for people; empty when it can be saved. */
export function validateDraft(draft: CameraDraft, context: DraftContext): DraftProblems {
  const problems: DraftProblems = {};
  if (!NAME.test(draft.name)) {
    problems.name = "Use 1 to 32 lowercase letters, digits, “-” or “_”, starting with a letter or digit.";
  } else if (context.otherNames.includes(draft.name)) {
    problems.name = `Another camera on this device is called “${draft.name}”.`;
  }
  if (draft.displayName.length > 100) problems.displayName = "Use at most 100 characters.";
  if (draft.url.trim() === "") problems.url = "Enter the camera's stream address.";
  else if (splitUrlCredentials(draft.url)) problems.url = "Put the user name and password in their own fields.";
  else if (!STREAM_URL.test(draft.url.trim()) || draft.url.trim().length < 10)
    problems.url = "Enter an rtsp:// or rtsps:// address, such as rtsp://192.168.1.20:554/stream1.";
  if (draft.detectUrl.trim() !== "") {
    if (splitUrlCredentials(draft.detectUrl)) problems.detectUrl = "Put the user name and password in their own fields.";
    else if (!STREAM_URL.test(draft.detectUrl.trim()) || draft.detectUrl.trim().length < 10)
      problems.detectUrl = "Enter an rtsp:// or rtsps:// address, or leave it empty to use the main stream.";
  }
  if (draft.username.includes(":")) problems.username = "A user name cannot contain “:”.";
  else if (draft.password !== "" && draft.username === "") problems.username = "Enter the user name that goes with the password.";
  if (hasNewCredentials(draft) && !context.configKey) {
    problems.password = "This device has not sent its key for camera logins yet, so a password cannot be sealed "
      + "for it. Save without a login now and add it once the device has connected.";
  } else if (!hasNewCredentials(draft) && storedKeyIsStale(draft, context.configKey)) {
    problems.password = "The stored user name and password were sealed to an earlier key of this device (it was "
      + "reset or enrolled again). Enter them again, or remove them.";
  }
  for (const label of draft.labels) {
    const text = draft.thresholds[label] ?? "";
    if (text.trim() === "") continue;
    const value = number(text);
    if (value === null || value < 0 || value > 100) {
      problems.thresholds = `The minimum score for ${DETECTION_LABELS[label].toLowerCase()} must be between 0 and 100 %.`;
      break;
    }
  }
  if (draft.minArea.trim() !== "") {
    const value = number(draft.minArea);
    if (value === null || value < 0 || value >= 100) problems.minArea = "Enter a size from 0 up to (not including) 100 %.";
  }
  const zoneProblem = areaNamesProblem(draft.zones ?? [], "zone") ?? areaNamesProblem(draft.masks ?? [], "mask");
  if (zoneProblem) problems.zones = zoneProblem;
  if (draft.retentionDays.trim() !== "") {
    const value = number(draft.retentionDays);
    if (value === null || value < 0 || value > 3650) problems.retentionDays = "Enter a number of days from 0 to 3650.";
  }
  return problems;
}

/** Zone (or mask) names follow the camera name's rule and are unique among their kind (events carry them). */
function areaNamesProblem(areas: { name: string }[], kind: "zone" | "mask"): string | null {
  const bad = areas.find((a) => !NAME.test(a.name));
  if (bad) return `The ${kind} name “${bad.name}” must be 1 to 32 lowercase letters, digits, “-” or “_”.`;
  const names = areas.map((a) => a.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  return repeated ? `Two ${kind}s are called “${repeated}”: rename one.` : null;
}

export type Sealer = (username: string, password: string) => Promise<SealedCredentials>;

/**
 * The camera as the cloud takes it (call after validateDraft found nothing). New credentials are sealed
 * with `seal`, once per stream (each sealed box stands alone); untouched ones are sent as stored.
 */
export async function buildCamera(draft: CameraDraft, seal: Sealer): Promise<CameraConfig> {
  const detectUrl = draft.detectUrl.trim();
  let recordCredentials: SealedCredentials | null = null;
  let detectCredentials: SealedCredentials | null = null;
  if (hasNewCredentials(draft)) {
    recordCredentials = await seal(draft.username, draft.password);
    if (detectUrl) detectCredentials = await seal(draft.username, draft.password);
  } else if (draft.stored) {
    recordCredentials = draft.stored.record;
    detectCredentials = detectUrl ? (draft.stored.detect ?? draft.stored.record) : null;
  }
  const source = (url: string, credentials: SealedCredentials | null): StreamSource =>
    credentials ? { url, credentials } : { url };
  const labels = byLabelOrder(draft.labels);
  const thresholds = labels.flatMap((label) => {
    const value = number(draft.thresholds[label] ?? "");
    return value === null ? [] : [{ label, min_score: value / 100 }];
  });
  // Only zones that still exist (a renamed or deleted zone is no longer an alert zone).
  const alertZones = (draft.alertZones ?? []).filter((name) => (draft.zones ?? []).some((zone) => zone.name === name));
  // Only labels the camera detects (an alert label unticked above would never alert; the cloud refuses it).
  const alertLabels = byLabelOrder((draft.alertLabels ?? []).filter((label) => !labels.length || labels.includes(label)));
  const camera: CameraConfig = {
    name: draft.name,
    display_name: draft.displayName.trim(),
    enabled: draft.enabled,
    record: source(draft.url.trim(), recordCredentials),
    detection: {
      labels, thresholds, min_area: (number(draft.minArea) ?? 0) / 100, zones: draft.zones, masks: draft.masks,
      ...(alertZones.length ? { alert_zones: alertZones } : {}),
      ...(alertLabels.length ? { alert_labels: alertLabels } : {}),
      ...(draft.tiles ? { tiles: draft.tiles } : {}),
      input_size: draft.inputSize ?? 0,
    },
    retention_days: number(draft.retentionDays) ?? 0,
  };
  if (detectUrl) camera.detect = source(detectUrl, detectCredentials);
  return camera;
}

function byLabelOrder(labels: readonly DetectionLabel[]): DetectionLabel[] {
  const order = Object.keys(DETECTION_LABELS);
  return [...labels].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/** Stored credentials sealed to another key than the device's current one cannot be saved again. */
export function storedKeyIsStale(draft: CameraDraft, configKey: ConfigKey | null): boolean {
  const ids = [draft.stored?.record?.key_id, draft.stored?.detect?.key_id].filter((id): id is string => !!id);
  return ids.length > 0 && (!configKey || ids.some((id) => id !== configKey.key_id));
}
