/// <reference types="vitest/config" />
import { copyFileSync } from "node:fs";
import { resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// The cloud serves ui/dist with Starlette's StaticFiles(html=True), which answers unknown paths with
// 404.html: a copy of index.html there lets deep links (/events/…) load the app.
function spaFallback(): Plugin {
  return {
    name: "guardian-spa-fallback",
    apply: "build",
    closeBundle() {
      const dist = resolve(import.meta.dirname, "dist");
      copyFileSync(resolve(dist, "index.html"), resolve(dist, "404.html"));
    },
  };
}

// `npm run dev` proxies the API to a local `guardian-cloud serve` (default port 8000).
const cloud = process.env.GUARDIAN_CLOUD_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react(), spaFallback()],
  build: { sourcemap: false, chunkSizeWarningLimit: 400 },
  // The archive opener's worker (src/archive/open.worker.ts) is a module worker: ES output, and chunks.
  worker: { format: "es" },
  server: { proxy: { "/api": { target: cloud, changeOrigin: false }, "/healthz": cloud } },
  test: { environment: "node", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
