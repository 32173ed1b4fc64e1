// A device's desired configuration (issue #17): GET/PUT /devices/{id}/config. Each save is the whole camera
// list as the device's next version, edited from `base_version`; the device reports what it applied.
import type { ApiClient } from "./client";
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type DeviceConfig = Schemas["DeviceConfigPublic"];
export type CameraConfig = Schemas["CameraConfigShape"];
export type StreamSource = Schemas["StreamSourceConfig"];
export type SealedCredentials = Schemas["SealedCredentials"];
export type ConfigKey = Schemas["ConfigKeyPublic"];
export type DetectionConfig = Schemas["DetectionConfigShape"];
export type DetectionLabel = NonNullable<DetectionConfig["labels"]>[number];
export type LabelThreshold = Schemas["LabelThresholdConfig"];
export type MqttConfig = Schemas["MqttConfigShape"];

export function deviceConfigApi(client: ApiClient) {
  const path = (id: string) => `/devices/${encodeURIComponent(id)}/config`;
  return {
    get: (deviceId: string) => client.get<DeviceConfig>(path(deviceId)),
    /**
     * Save `cameras` as the next version (tenant admins). 409 `version_conflict` when another version was
     * saved since `baseVersion`; `stale_config_key` / `no_config_key` when credentials are sealed to a key
     * the device no longer has (or has not reported yet). `mqtt` left out keeps the saved MQTT section;
     * null removes it.
     */
    save: (deviceId: string, baseVersion: number, cameras: CameraConfig[], mqtt?: MqttConfig | null) =>
      client.request<DeviceConfig>("PUT", path(deviceId), {
        body: { base_version: baseVersion, cameras, ...(mqtt !== undefined ? { mqtt } : {}) },
      }),
  };
}

/** The labels the edge's detectors report, for people (the keys are checked against the API's list). */
export const DETECTION_LABELS: Record<DetectionLabel, string> = {
  person: "Person", bicycle: "Bicycle", car: "Car", motorcycle: "Motorcycle", bus: "Bus", train: "Train",
  truck: "Truck", boat: "Boat", bird: "Bird", cat: "Cat", dog: "Dog", horse: "Horse", sheep: "Sheep", cow: "Cow",
  bear: "Bear", backpack: "Backpack", handbag: "Handbag", suitcase: "Suitcase", umbrella: "Umbrella",
};

export type CameraApplyState = "applied" | "failed" | "pending" | "refused" | "disabled";

export interface CameraApplyStatus {
  state: CameraApplyState;
  /** The edge's own words when it failed or refused the version; "" otherwise. */
  error: string;
}

/**
 * Where a configured camera stands on its device. While the newest version is not applied yet every camera
 * is pending (or refused with the version, when the device refused it whole); once it is, each camera has
 * the state the device reported for it.
 */
export function cameraApplyStatus(config: DeviceConfig, camera: Pick<CameraConfig, "name" | "enabled">): CameraApplyStatus {
  const { reported } = config;
  if (reported.applied_version < config.version) {
    if (reported.refused_version === config.version) return { state: "refused", error: reported.refused_reason };
    return { state: "pending", error: "" };
  }
  const status = reported.cameras.find((c) => c.camera === camera.name);
  if (status?.state === "failed") return { state: "failed", error: status.error };
  if (!camera.enabled) return { state: "disabled", error: "" };
  if (status?.state === "applied") return { state: "applied", error: "" };
  return { state: "pending", error: "" };
}

/** What to call a configured camera: its display name, else its name on the device. */
export function configCameraTitle(camera: Pick<CameraConfig, "name" | "display_name">): string {
  return camera.display_name.trim() || camera.name;
}
