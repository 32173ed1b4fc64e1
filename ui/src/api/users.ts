import type { ApiClient } from "./client";
import type { TokenPublic, UserPublic } from "./types";

export function usersApi(client: ApiClient) {
  return {
    me: () => client.get<UserPublic>("/users/me"),
    changePassword: (current_password: string, new_password: string) =>
      client.post<TokenPublic>("/users/me/password", { current_password, new_password }),
  };
}
