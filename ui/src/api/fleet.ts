import type { ApiClient } from "./client";
import type { FleetPublic } from "./types";

/** The operator's fleet (operators only; a tenant member gets 403). */
export function fleetApi(client: ApiClient) {
  return {
    get: () => client.get<FleetPublic>("/fleet"),
  };
}
