import { describe, expect, it, vi } from "vitest";
import { ApiClient, buildQuery, type FetchLike } from "./client";
import { ApiError, describeError } from "./errors";
import { createApi } from "./index";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** A scripted server: each call takes the next answer for its "METHOD path". */
function scripted(routes: Record<string, Response[]>) {
  const calls: { method: string; url: string; body: unknown }[] = [];
  const fetch: FetchLike = async (url, init) => {
    const method = init?.method ?? "GET";
    const path = url.replace(/\?.*$/, "");
    calls.push({ method, url, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const queue = routes[`${method} ${path}`];
    const next = queue?.shift();
    if (!next) throw new TypeError(`unexpected ${method} ${url}`);
    return next;
  };
  return { fetch, calls };
}

describe("ApiClient", () => {
  it("sends JSON with the session cookies and parses the answer", async () => {
    const spy = vi.fn<FetchLike>(async () => json(200, { id: "u1" }));
    const client = new ApiClient({ fetch: spy });
    await expect(client.post("/things", { a: 1 })).resolves.toEqual({ id: "u1" });
    const [url, init] = spy.mock.calls[0]!;
    expect(url).toBe("/api/v1/things");
    expect(init?.credentials).toBe("same-origin");
    expect((init?.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
    expect(init?.body).toBe('{"a":1}');
  });

  it("leaves unset filters out of the query", () => {
    expect(buildQuery({ camera: "porch", label: undefined, since: "", cursor: null, limit: 50 })).toBe("?camera=porch&limit=50");
    expect(buildQuery({})).toBe("");
  });

  it("renews an expired access cookie once and repeats the call", async () => {
    const server = scripted({
      "GET /api/v1/users/me": [json(401, { error: { code: "unauthorized", message: "access token invalid or expired" } }), json(200, { id: "u1" })],
      "POST /api/v1/auth/refresh": [json(200, { access_token: "t", token_type: "bearer", expires_in: 600 })],
    });
    const client = new ApiClient({ fetch: server.fetch });
    await expect(client.get("/users/me")).resolves.toEqual({ id: "u1" });
    expect(server.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET /api/v1/users/me", "POST /api/v1/auth/refresh", "GET /api/v1/users/me",
    ]);
  });

  it("shares one refresh between concurrent calls and reports an ended session", async () => {
    const unauthorized = () => json(401, { error: { code: "unauthorized", message: "not signed in" } });
    const server = scripted({
      "GET /api/v1/cameras": [unauthorized()],
      "GET /api/v1/devices": [unauthorized()],
      "POST /api/v1/auth/refresh": [json(401, { error: { code: "unauthorized", message: "refresh token invalid or expired" } })],
    });
    const expired = vi.fn();
    const client = new ApiClient({ fetch: server.fetch, onSessionExpired: expired });
    const results = await Promise.allSettled([client.get("/cameras"), client.get("/devices")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(server.calls.filter((c) => c.url.endsWith("/auth/refresh"))).toHaveLength(1);
    expect(expired).toHaveBeenCalled();
  });

  it("keeps the session when the current password is wrong (403) while changing it", async () => {
    const server = scripted({
      "POST /api/v1/users/me/password": [json(403, { error: { code: "bad_credentials", message: "current password is wrong" } })],
      "GET /api/v1/users/me": [json(200, { id: "u1" })],
    });
    const expired = vi.fn();
    const api = createApi(new ApiClient({ fetch: server.fetch, onSessionExpired: expired }));
    const error = await api.users.changePassword("not mine", "a brand new password").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(403);
    expect(describeError(error)).toBe("The current password is wrong.");
    await expect(api.users.me()).resolves.toEqual({ id: "u1" });
    expect(expired).not.toHaveBeenCalled();
    // No refresh was attempted: only the two calls.
    expect(server.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["POST /api/v1/users/me/password", "GET /api/v1/users/me"]);
  });

  it("ends the session only for a real expiry, not for a 401 about a password", async () => {
    const wrong = () => json(401, { error: { code: "bad_credentials", message: "current password is wrong" } });
    const server = scripted({
      // An older cloud answering 401 for the wrong current password: refreshed, refused again, but the
      // session is alive (the refresh worked).
      "POST /api/v1/users/me/password": [wrong(), wrong()],
      "POST /api/v1/auth/refresh": [
        json(200, { access_token: "t", token_type: "bearer", expires_in: 600 }),
        json(401, { error: { code: "unauthorized", message: "refresh token invalid or expired" } }),
      ],
      "GET /api/v1/tenant": [json(401, { error: { code: "unauthorized", message: "access token invalid or expired" } })],
    });
    const expired = vi.fn();
    const client = new ApiClient({ fetch: server.fetch, onSessionExpired: expired });
    const error = await client.post("/users/me/password", { current_password: "x", new_password: "y" }).catch((e: unknown) => e);
    expect((error as ApiError).code).toBe("bad_credentials");
    expect(expired).not.toHaveBeenCalled();
    // A real expiry (the refresh cookie refused) still ends it.
    await expect(client.get("/tenant")).rejects.toBeInstanceOf(ApiError);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it("does not try to refresh for a failed login", async () => {
    const server = scripted({
      "POST /api/v1/auth/login": [json(401, { error: { code: "bad_credentials", message: "wrong e-mail or password" } })],
    });
    const api = createApi(new ApiClient({ fetch: server.fetch }));
    const error = await api.auth.login("a@b.example", "nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("bad_credentials");
    expect(server.calls).toHaveLength(1);
    expect(describeError(error)).toMatch(/Wrong e-mail or password/);
  });

  it("turns the cloud's error body, validation details and Retry-After into ApiError", async () => {
    const error = await ApiError.fromResponse(json(422, {
      error: { code: "invalid_request", message: "request does not match the schema",
               details: [{ field: "body.password", problem: "String should have at least 12 characters" }] },
    }));
    expect(error.status).toBe(422);
    expect(describeError(error)).toBe("Please correct: Password: string should have at least 12 characters.");
    const limited = await ApiError.fromResponse(json(429, { error: { code: "rate_limited", message: "too many" } }, { "Retry-After": "900" }));
    expect(describeError(limited)).toBe("Too many failed attempts. Wait 15 minutes and try again.");
  });

  it("explains errors that are not the cloud's JSON", async () => {
    const proxy = await ApiError.fromResponse(new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect(proxy.code).toBe("http_502");
    expect(describeError(proxy)).toMatch(/had a problem answering/);
    const client = new ApiClient({ fetch: async () => { throw new TypeError("Failed to fetch"); } });
    const offline = await client.get("/tenant").catch((e: unknown) => e);
    expect((offline as ApiError).status).toBe(0);
    expect(describeError(offline)).toMatch(/cannot be reached/);
    expect(describeError(new ApiError(405, "method_not_allowed", "Method Not Allowed"))).toMatch(/does not support/);
  });

  it("returns nothing for 204 answers", async () => {
    const client = new ApiClient({ fetch: async () => new Response(null, { status: 204 }) });
    await expect(client.delete("/bootstrap-tokens/x")).resolves.toBeUndefined();
  });
});

describe("resource modules", () => {
  it("use the cloud's paths and shapes", async () => {
    const server = scripted({
      "GET /api/v1/events": [json(200, { items: [], next_cursor: null })],
      "POST /api/v1/events/ev%2F1/clip-token": [json(201, { token: "t", relay_url: "https://r", scopes: ["thumbnail"], expires_at: "2030-01-01T00:00:00Z" })],
      "PATCH /api/v1/cameras/c1": [json(200, { id: "c1" })],
      "POST /api/v1/bootstrap-tokens": [json(201, { id: "n", token: "secret" })],
    });
    const api = createApi(new ApiClient({ fetch: server.fetch }));
    await api.events.list({ camera: "porch", since: "2024-01-01T00:00:00.000Z" }, "CUR", 25);
    await api.events.clipToken("ev/1", ["thumbnail"]);
    await api.cameras.rename("c1", "Front door");
    await api.devices.issueBootstrapToken("Hall");
    expect(server.calls[0]!.url).toBe("/api/v1/events?camera=porch&since=2024-01-01T00%3A00%3A00.000Z&cursor=CUR&limit=25");
    expect(server.calls[1]!.body).toEqual({ scopes: ["thumbnail"] });
    expect(server.calls[2]!.body).toEqual({ display_name: "Front door" });
    expect(server.calls[3]!.body).toEqual({ label: "Hall" });
    expect(api.events.streamUrl({ label: "person" })).toBe("/api/v1/events/stream?label=person");
  });

  it("learns about single sign-on from /auth/providers without starting a login", async () => {
    const server = scripted({
      "GET /api/v1/auth/providers": [
        json(200, { password: true, signup: true, oidc: { name: "Keycloak", login_url: "/api/v1/auth/oidc/login" } }),
        json(200, { password: true, signup: false, oidc: null }),
      ],
    });
    const api = createApi(new ApiClient({ fetch: server.fetch }));
    const withOidc = await api.auth.providers();
    expect(withOidc.oidc?.name).toBe("Keycloak");
    expect(api.auth.oidcHref(withOidc)).toBe("/api/v1/auth/oidc/login");
    const without = await api.auth.providers();
    expect(api.auth.oidcHref(without)).toBeNull();
    expect(api.auth.oidcHref(null)).toBeNull();
    // Only the providers endpoint was asked: the login itself (/auth/oidc/login) was never requested.
    expect(server.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["GET /api/v1/auth/providers", "GET /api/v1/auth/providers"]);
    const remote = createApi(new ApiClient({ baseUrl: "https://cloud.example.org", fetch: server.fetch }));
    expect(remote.auth.oidcHref(withOidc)).toBe("https://cloud.example.org/api/v1/auth/oidc/login");
  });

  it("asks for counts grouped by label in one request", async () => {
    const server = scripted({
      "GET /api/v1/events/counts": [json(200, [{ bucket: "2024-05-01T12:00:00Z", label: "person", count: 2 }])],
    });
    const api = createApi(new ApiClient({ fetch: server.fetch }));
    const rows = await api.events.counts("hour", { since: "2024-05-01T00:00:00Z" }, "label");
    expect(rows[0]!.label).toBe("person");
    expect(server.calls[0]!.url).toBe("/api/v1/events/counts?bucket=hour&since=2024-05-01T00%3A00%3A00Z&group_by=label");
  });
});
