import type { ApiClient } from "./client";
import { ApiError } from "./errors";
import type { TokenPublic } from "./types";

export interface SignupInput {
  email: string;
  password: string;
  tenant_name: string;
}

/** Where the browser goes to start an OpenID Connect login (the cloud redirects to the provider). */
export const OIDC_LOGIN_PATH = "/auth/oidc/login";

export function authApi(client: ApiClient) {
  return {
    signup: (input: SignupInput) => client.post<TokenPublic>("/auth/signup", input),
    login: (email: string, password: string) => client.post<TokenPublic>("/auth/login", { email, password }),
    logout: () => client.post<void>("/auth/logout"),
    oidcLoginUrl: () => client.url(OIDC_LOGIN_PATH),
    /**
     * Whether the cloud offers OpenID Connect login. The cloud has no discovery endpoint for this yet,
     * so ask `GET /auth/oidc/login` without following the redirect: a redirect means configured, 404
     * means not. (`opaqueredirect` is what fetch returns for a redirect with `redirect: "manual"`.)
     */
    async oidcAvailable(fetchImpl: typeof fetch = globalThis.fetch.bind(globalThis)): Promise<boolean> {
      try {
        const response = await fetchImpl(client.url(OIDC_LOGIN_PATH), { redirect: "manual", credentials: "same-origin" });
        return response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400);
      } catch {
        return false;
      }
    },
  };
}

export function isSignedOut(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}
