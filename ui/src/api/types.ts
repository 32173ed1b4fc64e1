// The cloud API's JSON shapes (cloud/models.py: the …Public / …Create / …Update models).
// Times are ISO 8601 strings with a zone, as FastAPI serialises aware datetimes.

export type Role = "admin" | "viewer";

export interface TokenPublic {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface UserPublic {
  id: string;
  email: string;
  role: Role | string;
  tenant_id: string | null;
  is_operator: boolean;
}

export interface TenantPublic {
  id: string;
  name: string;
  plan: string;
  relay_id: string | null;
  /** Where the browser fetches media from (clip tokens name it too). */
  relay_url: string | null;
  /** host:port new devices enrol at (`guardian-edge enrol --relay`); set whenever relay_url is. */
  relay_enrolment_endpoint?: string | null;
}

export interface OidcProviderPublic {
  name: string;
  /** Navigate the browser here to start the login (it redirects to the provider). */
  login_url: string;
}

/** `GET /auth/providers`: how one can sign in, from the cloud's settings (starts nothing). */
export interface AuthProviders {
  password: boolean;
  signup: boolean;
  oidc: OidcProviderPublic | null;
}

export interface PlanPublic {
  name: string;
  max_cameras: number;
  max_archive_bytes: number;
  retention_days: number;
  cameras_used: number;
  archive_bytes_used: number;
}

/** healthy | degraded | offline | unknown (cloud/ingest.py _HEALTH_STATUS). */
export type DeviceStatus = "healthy" | "degraded" | "offline" | "unknown";

export interface DevicePublic {
  id: string;
  name: string;
  status: DeviceStatus | string;
  reason: string;
  agent_version: string;
  last_seen_at: string | null;
}

/** connecting | streaming | failed | disabled | unknown (cloud/ingest.py _CAMERA_STATES). */
export type CameraState = "connecting" | "streaming" | "failed" | "disabled" | "unknown";

export interface CameraPublic {
  id: string;
  device_id: string;
  /** The camera's name on the edge; events refer to cameras by it. */
  name: string;
  display_name: string;
  state: CameraState | string;
  last_frame_at: string | null;
}

export type Confidence = "unspecified" | "low" | "medium" | "high";

export interface EventPublic {
  id: string;
  device_id: string;
  camera: string;
  label: string;
  start_at: string;
  end_at: string | null;
  confidence: Confidence;
  has_clip: boolean;
}

export interface EventPage {
  items: EventPublic[];
  next_cursor: string | null;
}

export interface EventCount {
  bucket: string;
  /** Present with `group_by=label`. */
  label?: string;
  count: number;
}

export type MediaScope = "clip" | "snapshot" | "thumbnail";

export interface ClipTokenPublic {
  token: string;
  relay_url: string;
  expires_at: string;
  scopes: MediaScope[];
}

export interface BootstrapTokenPublic {
  id: string;
  label: string;
  relay_id: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
}

export interface BootstrapTokenIssued extends BootstrapTokenPublic {
  /** Shown once; not retrievable later. */
  token: string;
}

export interface ErrorDetail {
  field?: string;
  problem?: string;
  [key: string]: unknown;
}

/** Every error body: `{"error": {"code", "message", "details"?}}`. */
export interface ErrorResponse {
  error: { code: string; message: string; details?: ErrorDetail[] };
}

/** Filters shared by the list, the counts and the live stream. */
export interface EventFilters {
  camera?: string;
  label?: string;
  /** ISO 8601 with zone; start ≥ since. */
  since?: string;
  /** ISO 8601 with zone; start < until. */
  until?: string;
}
