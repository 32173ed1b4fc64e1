import type { ApiClient } from "./client";
import type { PlanPublic, TenantPublic } from "./types";

export function tenantApi(client: ApiClient) {
  return {
    get: () => client.get<TenantPublic>("/tenant"),
    rename: (name: string) => client.patch<TenantPublic>("/tenant", { name }),
    plan: () => client.get<PlanPublic>("/tenant/plan"),
  };
}
