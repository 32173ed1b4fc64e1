// The browser's sealing of camera credentials opens with the edge's key pair (libsodium's
// crypto_box_seal_open, as PyNaCl's SealedBox on the edge does), and only with it.
import { describe, expect, it } from "vitest";
import { sealCredentials, SealError, sodium } from "./seal";

async function edgeKey() {
  const lib = await sodium();
  const pair = lib.crypto_box_keypair();
  const variant = lib.base64_variants.URLSAFE_NO_PADDING;
  return { lib, pair, key: { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) }, variant };
}

describe("sealCredentials", () => {
  it("round-trips: the edge's private key opens username:password", async () => {
    const { lib, pair, key, variant } = await edgeKey();
    const sealed = await sealCredentials("admin", "Gr3en:Parrot@Lantern ü", key);
    expect(sealed.key_id).toBe(key.key_id);
    expect(sealed.ciphertext).toMatch(/^[A-Za-z0-9_-]+$/); // unpadded base64url, as the API takes it
    const opened = lib.crypto_box_seal_open(lib.from_base64(sealed.ciphertext, variant), pair.publicKey, pair.privateKey, "text");
    expect(opened).toBe("admin:Gr3en:Parrot@Lantern ü");
    expect(sealed.ciphertext).not.toContain("Gr3en");
  });

  it("seals afresh each time and cannot be opened with another key", async () => {
    const { lib, key, variant } = await edgeKey();
    const [a, b] = [await sealCredentials("u", "p", key), await sealCredentials("u", "p", key)];
    expect(a.ciphertext).not.toBe(b.ciphertext);
    const other = lib.crypto_box_keypair();
    expect(() => lib.crypto_box_seal_open(lib.from_base64(a.ciphertext, variant), other.publicKey, other.privateKey)).toThrow();
  });

  it("refuses a user name with ':' and a key that is not an X25519 public key", async () => {
    const { key } = await edgeKey();
    await expect(sealCredentials("ad:min", "p", key)).rejects.toThrow(SealError);
    await expect(sealCredentials("admin", "p", { ...key, public_key: "AAAA" })).rejects.toThrow(/not an X25519/);
    await expect(sealCredentials("admin", "p", { ...key, public_key: "not base64!" })).rejects.toThrow(SealError);
  });
});
