// Short-lived tokens (clip, picture) kept until shortly before they expire, so a page full of
// thumbnails or pictures does not ask the cloud again on every render. A failed mint is not kept.
const MARGIN_MS = 15_000;

export class TokenCache<T extends { expires_at: string }> {
  private readonly cache = new Map<string, Promise<T>>();

  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string, mint: () => Promise<T>): Promise<T> {
    const cached = this.cache.get(key);
    if (cached) {
      try {
        const grant = await cached;
        if (Date.parse(grant.expires_at) - MARGIN_MS > this.now()) return grant;
      } catch {
        // a failed mint is not cached: ask again
      }
    }
    const pending = mint();
    this.cache.set(key, pending);
    pending.catch(() => {
      if (this.cache.get(key) === pending) this.cache.delete(key);
    });
    return pending;
  }

  /** Forget the tokens whose key passes ``matches`` (e.g. one the relay refused). */
  forget(matches: (key: string) => boolean): void {
    for (const key of [...this.cache.keys()]) if (matches(key)) this.cache.delete(key);
  }
}
