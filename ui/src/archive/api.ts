// The cloud's archive records (cloud/api/routes/archives.py): per-event listing and a presigned download.
import type { ApiClient } from "../api/client";

/** An archived clip: ciphertext in the store under `cid` (CIDv1 raw sha2-256 of its bytes). */
export interface ArchivePublic {
  cid: string;
  event_id: string;
  device_id: string;
  size: number;
  stored_at: string;
}

/** `POST /archives/{cid}/download`: a presigned GET of the ciphertext, valid until expires_at. */
export interface ArchiveDownload {
  url: string;
  expires_at: string;
  cid: string;
  size: number;
  event_id: string;
}

export function archivesApi(client: ApiClient) {
  return {
    forEvent: (eventId: string) => client.get<ArchivePublic[]>("/archives", { query: { event_id: eventId } }),
    download: (cid: string) => client.post<ArchiveDownload>(`/archives/${encodeURIComponent(cid)}/download`),
  };
}

export type ArchivesApi = ReturnType<typeof archivesApi>;
