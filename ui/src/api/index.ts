// The typed API layer: one module per resource, all on one ApiClient (cookies + refresh).
import { authApi } from "./auth";
import { deviceAccessApi } from "./cameraAccess";
import { camerasApi } from "./cameras";
import { ApiClient } from "./client";
import { deviceConfigApi } from "./deviceConfig";
import { devicesApi } from "./devices";
import { eventsApi } from "./events";
import { fleetApi } from "./fleet";
import { liveApi } from "./live";
import { reviewItemsApi } from "./reviewItems";
import { reviewsApi } from "./reviews";
import { tenantApi } from "./tenant";
import { usersApi } from "./users";

export function createApi(client: ApiClient = new ApiClient()) {
  return {
    client,
    auth: authApi(client),
    users: usersApi(client),
    tenant: tenantApi(client),
    cameras: camerasApi(client),
    devices: devicesApi(client),
    deviceConfig: deviceConfigApi(client),
    deviceAccess: deviceAccessApi(client),
    events: eventsApi(client),
    live: liveApi(client),
    reviews: reviewsApi(client),
    reviewItems: reviewItemsApi(client),
    fleet: fleetApi(client),
  };
}

export type Api = ReturnType<typeof createApi>;

export { ApiClient } from "./client";
export { ApiError, describeError, isApiError } from "./errors";
export type * from "./types";
