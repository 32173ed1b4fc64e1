import { describe, expect, it, vi } from "vitest";
import { createApi } from "../api";
import { ApiClient, type FetchLike } from "../api/client";
import { SessionStore, type SessionHint } from "./session";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function hint(present: boolean): SessionHint & { cleared: number } {
  const h = { present: () => present, cleared: 0, clear: () => { h.cleared += 1; present = false; } };
  return h;
}

describe("SessionStore", () => {
  it("without the session hint cookie, a page load is signed out without asking (no 401s)", async () => {
    const fetch = vi.fn<FetchLike>(async () => json(401, { error: { code: "unauthorized", message: "not signed in" } }));
    const store = new SessionStore(createApi(new ApiClient({ fetch })), hint(false));
    await store.load();
    expect(store.get()).toEqual({ status: "signed-out" });
    expect(fetch).not.toHaveBeenCalled();
  });

  it("with the hint, asks the cloud; a refused session clears the hint so the next load does not ask", async () => {
    const calls: string[] = [];
    const fetch: FetchLike = async (url, init) => {
      calls.push(`${init?.method ?? "GET"} ${url}`);
      return json(401, { error: { code: "unauthorized", message: "refresh token invalid or expired" } });
    };
    const h = hint(true);
    const store = new SessionStore(createApi(new ApiClient({ fetch })), h);
    await store.load();
    expect(store.get()).toEqual({ status: "signed-out" });
    expect(calls).toEqual(["GET /api/v1/users/me", "POST /api/v1/auth/refresh"]);
    expect(h.cleared).toBeGreaterThan(0);
    calls.length = 0;
    await store.load();
    expect(calls).toEqual([]);
  });

  it("with the hint and a live session, loads the user and the tenant", async () => {
    const answers: Record<string, Response> = {
      "/api/v1/users/me": json(200, { id: "u1", email: "a@b.example", role: "admin", tenant_id: "t1", is_operator: false }),
      "/api/v1/tenant": json(200, { id: "t1", name: "Home", plan: "free" }),
    };
    const fetch: FetchLike = async (url) => answers[url]!;
    const store = new SessionStore(createApi(new ApiClient({ fetch })), hint(true));
    await store.load();
    const session = store.get();
    expect(session.status).toBe("signed-in");
  });
});
