import type { ApiClient } from "./client";
import type { CameraPublic } from "./types";

export function camerasApi(client: ApiClient) {
  return {
    list: () => client.get<CameraPublic[]>("/cameras"),
    rename: (id: string, display_name: string) =>
      client.patch<CameraPublic>(`/cameras/${encodeURIComponent(id)}`, { display_name }),
  };
}

/** What to call a camera: the name given in the cloud, else its name on the edge. */
export function cameraTitle(camera: Pick<CameraPublic, "name" | "display_name">): string {
  return camera.display_name.trim() || camera.name;
}

/** Streaming is the only state in which a camera is delivering video. */
export function isCameraOnline(camera: Pick<CameraPublic, "state">): boolean {
  return camera.state === "streaming";
}
