// The cloud API's JSON shapes, named for the UI. The shapes come from the generated schema
// (schema.gen.ts, from openapi.json: scripts/generate-api-types.sh); only the narrower value sets the
// API documents as plain strings, and the UI's own filter shape, are written here.
// Times are ISO 8601 strings with a zone, as FastAPI serialises aware datetimes.
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type TokenPublic = Schemas["TokenPublic"];
export type UserPublic = Schemas["UserPublic"];
export type TenantPublic = Schemas["TenantPublic"];
export type OidcProviderPublic = Schemas["OidcProviderPublic"];
/** `GET /auth/providers`: how one can sign in, from the cloud's settings (starts nothing). */
export type AuthProviders = Schemas["AuthProviders"];
export type PlanPublic = Schemas["PlanPublic"];
export type DevicePublic = Schemas["DevicePublic"];
export type CameraPublic = Schemas["CameraPublic"];
export type EventPublic = Schemas["EventPublic"];
export type EventPage = Schemas["EventPage"];
export type EventCount = Schemas["EventCount"];
export type Severity = EventPublic["severity"];
/** `GET /reviews/unread` (events) and `GET /review-items/unread` (items): the signed-in member's unreviewed
 * ones, in total and per camera. */
export type UnreadPublic = Schemas["UnreadPublic"];
/** `GET /review-items`: a camera's overlapping activity as one row (labels, zones, span, its best event). */
export type ReviewItemPublic = Schemas["ReviewItemPublic"];
export type ReviewItemPage = Schemas["ReviewItemPage"];
/** `POST /review-items/reviewed`: how many items (and their events) "mark all reviewed" marked. */
export type ReviewItemsReviewedPublic = Schemas["ReviewItemsReviewedPublic"];
export type ClipTokenPublic = Schemas["ClipTokenPublic"];
export type BootstrapTokenPublic = Schemas["BootstrapTokenPublic"];
/** Its `token` is shown once; not retrievable later. */
export type BootstrapTokenIssued = Schemas["BootstrapTokenIssued"];
/** `GET /bootstrap-tokens/{id}/image/checksum`: what the downloaded image must match. */
export type EdgeImageChecksum = Schemas["EdgeImageChecksum"];
export type EdgeImageCompressed = Schemas["EdgeImageCompressed"];
/** `GET /fleet` (operators): relays and devices across tenants, by id, with the alerts firing. */
export type FleetPublic = Schemas["FleetPublic"];
export type FleetRelayPublic = Schemas["FleetRelayPublic"];
export type FleetDevicePublic = Schemas["FleetDevicePublic"];
export type FleetAlertPublic = Schemas["FleetAlertPublic"];
/** Every error body: `{"error": {"code", "message", "details"?}}`. */
export type ErrorResponse = Schemas["ErrorResponse"];

export type Role = "admin" | "viewer";
/** healthy | degraded | offline | unknown (the cloud's ingest: DevicePublic.status). */
export type DeviceStatus = "healthy" | "degraded" | "offline" | "unknown";
/** connecting | streaming | failed | disabled | unknown (the cloud's ingest: CameraPublic.state). */
export type CameraState = "connecting" | "streaming" | "failed" | "disabled" | "unknown";
export type Confidence = EventPublic["confidence"];
/** What a clip token may be asked for. */
export type MediaScope = NonNullable<Schemas["ClipTokenCreate"]["scopes"]>[number];

/** One entry of an error's `details`: the validation errors carry `field` and `problem`. */
export interface ErrorDetail {
  field?: string;
  problem?: string;
  [key: string]: unknown;
}

/** Filters shared by the list, the counts and the live stream. */
export interface EventFilters {
  camera?: string;
  label?: string;
  /** A zone's name (a camera's named area): only events that touched it. */
  zone?: string;
  /** ISO 8601 with zone; start ≥ since. */
  since?: string;
  /** ISO 8601 with zone; start < until. */
  until?: string;
  /** alert | detection. */
  severity?: string;
  /** "false": only the events this member has not reviewed ("true": only the reviewed ones). */
  reviewed?: string;
}
/** Push notifications (`/notifications/…`): the VAPID key, this member's browsers and rules. */
export type PushKeyPublic = Schemas["PushKeyPublic"];
export type PushSubscriptionPublic = Schemas["PushSubscriptionPublic"];
export type NotificationRules = Schemas["NotificationRulesShape"];
