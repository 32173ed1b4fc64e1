import type { ApiClient } from "./client";
import type { BootstrapTokenIssued, BootstrapTokenPublic, DevicePublic, EdgeImageChecksum, EdgeImageCompressed } from "./types";

export function devicesApi(client: ApiClient) {
  return {
    list: () => client.get<DevicePublic[]>("/devices"),
    get: (id: string) => client.get<DevicePublic>(`/devices/${encodeURIComponent(id)}`),
    rename: (id: string, name: string) => client.patch<DevicePublic>(`/devices/${encodeURIComponent(id)}`, { name }),
    /**
     * Revoke a device (tenant admins): it leaves the list, its relay refuses it from then on (the relay
     * reads `GET /relay/revocations`), and the cloud stores nothing more from it. 204, also when repeated.
     */
    revoke: (id: string) => client.delete(`/devices/${encodeURIComponent(id)}`),
    bootstrapTokens: () => client.get<BootstrapTokenPublic[]>("/bootstrap-tokens"),
    /** A single-use enrolment token; its text is in the answer only, never again. */
    issueBootstrapToken: (label: string) => client.post<BootstrapTokenIssued>("/bootstrap-tokens", { label }),
    revokeBootstrapToken: (id: string) => client.delete(`/bootstrap-tokens/${encodeURIComponent(id)}`),
    /**
     * The edge image personalised with a pending token, for a plain browser download (the access cookie
     * authenticates it; the URL names the token's id, never its text). Resumable (HTTP Range).
     */
    imageUrl: (id: string) => client.url(`/bootstrap-tokens/${encodeURIComponent(id)}/image`),
    /** Size and SHA-256 of that image; 503 `edge_image_unavailable` when the cloud has none to offer. */
    imageChecksum: (id: string) => client.get<EdgeImageChecksum>(`/bootstrap-tokens/${encodeURIComponent(id)}/image/checksum`),
    /** The same image as .img.xz (balenaEtcher and Raspberry Pi Imager take it as it is); resumable too. */
    imageXzUrl: (id: string) => client.url(`/bootstrap-tokens/${encodeURIComponent(id)}/image.xz`),
    /**
     * Whether the .img.xz is ready (the cloud compresses each generic image once, in the background: `progress`)
     * and then its size and SHA-256; 503 `edge_image_unavailable` when the cloud cannot offer it.
     */
    imageXzChecksum: (id: string) => client.get<EdgeImageCompressed>(`/bootstrap-tokens/${encodeURIComponent(id)}/image.xz/checksum`),
  };
}

export type BootstrapTokenState = "pending" | "used" | "revoked" | "expired";

export function bootstrapTokenState(token: BootstrapTokenPublic, now: Date = new Date()): BootstrapTokenState {
  if (token.revoked_at) return "revoked";
  if (token.used_at) return "used";
  if (Date.parse(token.expires_at) <= now.getTime()) return "expired";
  return "pending";
}
