// Clip tokens are per event and live ≤ 5 minutes: keep each until shortly before it expires, so a
// timeline full of thumbnails does not ask the cloud again on every render.
import type { ClipTokenPublic, MediaScope } from "../api/types";

export type MintToken = (eventId: string, scopes: MediaScope[]) => Promise<ClipTokenPublic>;

const MARGIN_MS = 15_000;

export class MediaTokens {
  private readonly cache = new Map<string, Promise<ClipTokenPublic>>();

  constructor(private readonly mint: MintToken, private readonly now: () => number = Date.now) {}

  private key(eventId: string, scopes: MediaScope[]): string {
    return `${eventId}|${[...scopes].sort().join(",")}`;
  }

  async get(eventId: string, scopes: MediaScope[]): Promise<ClipTokenPublic> {
    const key = this.key(eventId, scopes);
    const cached = this.cache.get(key);
    if (cached) {
      try {
        const grant = await cached;
        if (Date.parse(grant.expires_at) - MARGIN_MS > this.now()) return grant;
      } catch {
        // a failed mint is not cached: ask again
      }
    }
    const pending = this.mint(eventId, scopes);
    this.cache.set(key, pending);
    pending.catch(() => {
      if (this.cache.get(key) === pending) this.cache.delete(key);
    });
    return pending;
  }

  /** Forget a token the relay refused, so the next get() mints a fresh one. */
  invalidate(eventId: string): void {
    for (const key of [...this.cache.keys()]) if (key.startsWith(`${eventId}|`)) this.cache.delete(key);
  }
}
