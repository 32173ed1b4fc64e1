// Picture tokens are per (device, camera) and live minutes: a page of pictures refreshing every 10 s asks
// the cloud again only shortly before a token expires, or after the relay refused one.
import type { DeviceAccessToken } from "../api/cameraAccess";

export type MintPictureToken = (deviceId: string, camera: string) => Promise<DeviceAccessToken>;

const MARGIN_MS = 15_000;

export class PictureTokens {
  private readonly cache = new Map<string, Promise<DeviceAccessToken>>();

  constructor(private readonly mint: MintPictureToken, private readonly now: () => number = Date.now) {}

  async get(deviceId: string, camera: string): Promise<DeviceAccessToken> {
    const key = `${deviceId}/${camera}`;
    const cached = this.cache.get(key);
    if (cached) {
      try {
        const grant = await cached;
        if (Date.parse(grant.expires_at) - MARGIN_MS > this.now()) return grant;
      } catch {
        // a failed mint is not cached: ask again
      }
    }
    const pending = this.mint(deviceId, camera);
    this.cache.set(key, pending);
    pending.catch(() => {
      if (this.cache.get(key) === pending) this.cache.delete(key);
    });
    return pending;
  }

  /** Forget a token the relay refused, so the next get() mints a fresh one. */
  invalidate(deviceId: string, camera: string): void {
    this.cache.delete(`${deviceId}/${camera}`);
  }
}
