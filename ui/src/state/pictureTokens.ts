// Picture tokens are per (device, camera) and live minutes: a page of pictures refreshing every 10 s asks
// the cloud again only shortly before a token expires, or after the relay refused one.
import type { DeviceAccessToken } from "../api/cameraAccess";
import { TokenCache } from "./tokenCache";

export type MintPictureToken = (deviceId: string, camera: string) => Promise<DeviceAccessToken>;

export class PictureTokens {
  private readonly cache: TokenCache<DeviceAccessToken>;

  constructor(private readonly mint: MintPictureToken, now: () => number = Date.now) {
    this.cache = new TokenCache(now);
  }

  get(deviceId: string, camera: string): Promise<DeviceAccessToken> {
    return this.cache.get(`${deviceId}/${camera}`, () => this.mint(deviceId, camera));
  }

  /** Forget a token the relay refused, so the next get() mints a fresh one. */
  invalidate(deviceId: string, camera: string): void {
    this.cache.forget((key) => key === `${deviceId}/${camera}`);
  }
}
