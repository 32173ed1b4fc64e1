import type { ApiClient } from "./client";
import type { Role, UserPublic } from "./types";

/** The household: the home's accounts (`/tenant/members`; changing them needs an administrator). */
export function membersApi(client: ApiClient) {
  return {
    list: () => client.get<UserPublic[]>("/tenant/members"),
    /** 409 `email_taken`; 422 `weak_password` (the message carries the advice). */
    add: (email: string, password: string, role: Role) => client.post<UserPublic>("/tenant/members", { email, password, role }),
    /** 403 `last_admin`: a home keeps at least one administrator. */
    setRole: (id: string, role: Role) => client.patch<UserPublic>(`/tenant/members/${encodeURIComponent(id)}`, { role }),
    remove: (id: string) => client.delete(`/tenant/members/${encodeURIComponent(id)}`),
  };
}
