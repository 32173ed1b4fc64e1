import type { ApiClient } from "./client";
import { ApiError } from "./errors";
import type { AuthProviders, TokenPublic } from "./types";

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
     * How one can sign in here (password, sign-up open, the OpenID Connect provider if any). Answered
     * from the cloud's settings: asking does not start a login at the provider.
     */
    providers: () => client.get<AuthProviders>("/auth/providers"),
    /** Where the single sign-on button goes: the provider's `login_url` on the cloud's origin. */
    oidcHref: (providers: AuthProviders | null): string | null =>
      providers?.oidc ? client.absolute(providers.oidc.login_url) : null,
  };
}

export function isSignedOut(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}
