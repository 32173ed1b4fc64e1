import { describe, expect, it } from "vitest";
import type { ClipTokenPublic } from "../api/types";
import { MediaTokens } from "./mediaTokens";

describe("media tokens", () => {
  it("reuses a token until shortly before it expires, and forgets refused ones", async () => {
    let now = Date.parse("2024-01-01T00:00:00Z");
    let minted = 0;
    const tokens = new MediaTokens(async (): Promise<ClipTokenPublic> => {
      minted += 1;
      return { token: `t${minted}`, relay_url: "https://r", scopes: ["thumbnail"], expires_at: new Date(now + 120_000).toISOString() };
    }, () => now);
    expect((await tokens.get("e", ["thumbnail"])).token).toBe("t1");
    expect((await tokens.get("e", ["thumbnail"])).token).toBe("t1");
    now += 110_000; // within the safety margin of expiry
    expect((await tokens.get("e", ["thumbnail"])).token).toBe("t2");
    tokens.invalidate("e");
    expect((await tokens.get("e", ["thumbnail"])).token).toBe("t3");
    expect((await tokens.get("other", ["thumbnail"])).token).toBe("t4");
  });

  it("does not keep a failed mint", async () => {
    let fail = true;
    const tokens = new MediaTokens(async () => {
      if (fail) throw new Error("no relay");
      return { token: "ok", relay_url: "https://r", scopes: ["clip"], expires_at: "2999-01-01T00:00:00Z" };
    });
    await expect(tokens.get("e", ["clip"])).rejects.toThrow();
    fail = false;
    await expect(tokens.get("e", ["clip"])).resolves.toMatchObject({ token: "ok" });
  });
});
