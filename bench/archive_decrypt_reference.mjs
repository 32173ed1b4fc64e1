// Reference decryption of the archive format (docs/archive-format.md) with the browser APIs:
// WebCrypto (globalThis.crypto.subtle, same in Node ≥ 20 and Chromium) + hash-wasm (WASM Argon2id).
//   npm install hash-wasm@4 && node bench/archive_decrypt_reference.mjs FILE.garc SECRET PLAIN_FILE
// Prints the Argon2id time, the total time and whether the output equals PLAIN_FILE; exit 3 on a wrong secret.
import { argon2id } from "hash-wasm";
import { readFileSync } from "node:fs";
const { subtle } = globalThis.crypto;
const file = new Uint8Array(readFileSync(process.argv[2]));
const secret = process.argv[3];
const dv = new DataView(file.buffer, file.byteOffset);
const header = file.slice(0, 102);
const m = dv.getUint32(6), t = dv.getUint32(10), p = file[14], salt = file.slice(15, 31), C = dv.getUint32(31);
const prefix = file.slice(35, 42), wrapNonce = file.slice(42, 54);
const t0 = performance.now();
const kek = await argon2id({ password: new TextEncoder().encode(secret), salt, parallelism: p, iterations: t,
  memorySize: m, hashLength: 32, outputType: "binary" });
const t1 = performance.now();
const kekKey = await subtle.importKey("raw", kek, "AES-GCM", false, ["decrypt"]);
let dataKey;
try { dataKey = await subtle.decrypt({ name: "AES-GCM", iv: wrapNonce, additionalData: header.slice(0, 54) }, kekKey, header.slice(54)); }
catch { console.log("Wrong archive secret"); process.exit(3); }
const key = await subtle.importKey("raw", dataKey, "AES-GCM", false, ["decrypt"]);
const block = C + 16; const parts = [];
for (let i = 0, pos = 102; pos < file.length; i++, pos += block) {
  const end = Math.min(pos + block, file.length); const fin = end === file.length ? 1 : 0;
  const tail = new Uint8Array(5); new DataView(tail.buffer).setUint32(0, i); tail[4] = fin;
  const iv = new Uint8Array([...prefix, ...tail]); const aad = new Uint8Array([...header, ...tail]);
  parts.push(new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, file.slice(pos, end))));
}
const out = Buffer.concat(parts);
console.log(`argon2id ${(t1 - t0).toFixed(0)} ms, total ${(performance.now() - t0).toFixed(0)} ms, equal=${out.equals(readFileSync(process.argv[4]))}`);
