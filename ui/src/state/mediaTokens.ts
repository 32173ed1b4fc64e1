// Clip tokens are per event (and scopes) and live ≤ 5 minutes.
import type { ClipTokenPublic, MediaScope } from "../api/types";
import { TokenCache } from "./tokenCache";

export type MintToken = (eventId: string, scopes: MediaScope[]) => Promise<ClipTokenPublic>;

export class MediaTokens {
  private readonly cache: TokenCache<ClipTokenPublic>;

  constructor(private readonly mint: MintToken, now: () => number = Date.now) {
    this.cache = new TokenCache(now);
  }

  get(eventId: string, scopes: MediaScope[]): Promise<ClipTokenPublic> {
    return this.cache.get(`${eventId}|${[...scopes].sort().join(",")}`, () => this.mint(eventId, scopes));
  }

  /** Forget a token the relay refused, so the next get() mints a fresh one. */
  invalidate(eventId: string): void {
    this.cache.forget((key) => key.startsWith(`${eventId}|`));
  }
}
