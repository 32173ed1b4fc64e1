import { ApiError } from "./errors";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Try `POST /auth/refresh` once and repeat the call when it answers 401 (default: true). */
  retryOnUnauthorized?: boolean;
}

export interface ApiClientOptions {
  /** Origin + prefix of the API; "" means the page's own origin (the cloud serves the UI). */
  baseUrl?: string;
  fetch?: FetchLike;
  /** Called once when the session is gone for good (refresh refused). */
  onSessionExpired?: () => void;
}

export const API_PREFIX = "/api/v1";
const REFRESH_PATH = "/auth/refresh";

/** Error codes of a 401 that are about credentials given in the request, not about the session. */
const NOT_SESSION_CODES = new Set(["bad_credentials"]);

/** Whether a 401 says the session itself is refused (read from a copy: the caller still reads the body). */
async function isSessionRefusal(response: Response): Promise<boolean> {
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } } | null;
    return !NOT_SESSION_CODES.has(String(body?.error?.code));
  } catch {
    return true;
  }
}

/** Encode the filters, leaving out what is unset or empty. */
export function buildQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * JSON over fetch with the cloud's session cookies (HTTP-only `guardian_access` + `guardian_refresh`,
 * SameSite=Strict, so no CSRF token is needed from a same-origin page). An expired access token is
 * renewed once through the refresh cookie, shared by concurrent calls.
 */
export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private refreshing: Promise<boolean> | null = null;
  onSessionExpired: (() => void) | undefined;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/$/, "");
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onSessionExpired = options.onSessionExpired;
  }

  url(path: string, query?: Query): string {
    return `${this.baseUrl}${API_PREFIX}${path}${buildQuery(query)}`;
  }

  /** A root-relative path the cloud gave (e.g. a login URL) on the cloud's origin. */
  absolute(path: string): string {
    return path.startsWith("/") ? `${this.baseUrl}${path}` : path;
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, options);
  }

  post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }

  patch<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("PATCH", path, { ...options, body });
  }

  delete<T = void>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("DELETE", path, options);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    let response = await this.send(method, path, options);
    const retry = options.retryOnUnauthorized ?? !path.startsWith("/auth/");
    if (response.status === 401 && retry) {
      const refreshed = await this.refresh();
      if (refreshed) response = await this.send(method, path, options);
      // The session ended only when the refresh cookie is refused, or the renewed session is refused
      // again as a session; an answer about something else (a wrong password) never signs anyone out.
      if (!refreshed || (response.status === 401 && (await isSessionRefusal(response)))) this.onSessionExpired?.();
    }
    if (!response.ok) throw await ApiError.fromResponse(response);
    if (response.status === 204 || response.headers.get("Content-Length") === "0") return undefined as T;
    return (await response.json()) as T;
  }

  /** Renew the access cookie from the refresh cookie; concurrent callers share one request. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.send("POST", REFRESH_PATH, {})
      .then((r) => r.ok)
      .catch(() => false)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const init: RequestInit = { method, headers, credentials: "same-origin", signal: options.signal ?? null };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    try {
      return await this.fetchImpl(this.url(path, options.query), init);
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
      throw ApiError.network(cause);
    }
  }
}
