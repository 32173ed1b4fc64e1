import type { Api } from "../api";
import { isApiError } from "../api";
import type { SignupInput } from "../api/auth";
import type { TenantPublic, UserPublic } from "../api/types";
import { Store } from "./store";

export type Session =
  | { status: "loading" }
  | { status: "signed-out"; reason?: "expired" | "logged-out" }
  | { status: "signed-in"; user: UserPublic; tenant: TenantPublic | null };

/**
 * The cloud's readable `guardian_session=1` cookie: set with every session, cleared at logout and when the
 * refresh token is refused. It holds no secret; it only says whether asking the cloud is worth it.
 */
export const SESSION_HINT_COOKIE = "guardian_session";

/** Reads and clears the session hint; outside a browser (no `document`) a session always may exist. */
export interface SessionHint {
  present(): boolean;
  clear(): void;
}

export const documentSessionHint: SessionHint = {
  present: () =>
    typeof document === "undefined" ||
    document.cookie.split(";").some((c) => c.trim().startsWith(`${SESSION_HINT_COOKIE}=`)),
  clear: () => {
    if (typeof document !== "undefined") document.cookie = `${SESSION_HINT_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict`;
  },
};

/** Who is signed in. The tokens themselves are HTTP-only cookies the page never sees. */
export class SessionStore extends Store<Session> {
  constructor(
    private readonly api: Api,
    private readonly hint: SessionHint = documentSessionHint,
  ) {
    super({ status: "loading" });
    api.client.onSessionExpired = () => this.expire();
  }

  /**
   * Ask the cloud who we are (the cookies decide); signed-out on 401. Without the session hint cookie
   * there is no session to ask about: signed-out at once, without two 401s in the console.
   */
  async load(): Promise<void> {
    if (!this.hint.present()) {
      this.set({ status: "signed-out" });
      return;
    }
    try {
      const user = await this.api.users.me();
      const tenant = user.tenant_id ? await this.api.tenant.get() : null;
      this.set({ status: "signed-in", user, tenant });
    } catch (error) {
      if (isApiError(error) && error.status === 401) {
        this.hint.clear();
        this.set({ status: "signed-out" });
        return;
      }
      throw error;
    }
  }

  async login(email: string, password: string): Promise<void> {
    await this.api.auth.login(email, password);
    await this.load();
  }

  async signup(input: SignupInput): Promise<void> {
    await this.api.auth.signup(input);
    await this.load();
  }

  async logout(): Promise<void> {
    try {
      await this.api.auth.logout();
    } finally {
      this.set({ status: "signed-out", reason: "logged-out" });
    }
  }

  /** The refresh token was refused: the session is over. */
  expire(): void {
    this.hint.clear();
    if (this.get().status === "signed-in") this.set({ status: "signed-out", reason: "expired" });
  }

  setTenant(tenant: TenantPublic): void {
    const session = this.get();
    if (session.status === "signed-in") this.set({ ...session, tenant });
  }
}

export function isAdmin(session: Session): boolean {
  return session.status === "signed-in" && session.user.role === "admin";
}
