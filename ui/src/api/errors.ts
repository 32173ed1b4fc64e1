import type { ErrorDetail, ErrorResponse } from "./types";

/** An API call that failed: the HTTP status (0 when the network failed), the cloud's code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, details: ErrorDetail[] = [], retryAfter: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  static async fromResponse(response: Response): Promise<ApiError> {
    const retry = Number(response.headers.get("Retry-After"));
    const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // not JSON (a proxy's HTML page, an empty body): fall back to the status
    }
    const error = (body as ErrorResponse | null)?.error;
    if (error && typeof error.code === "string" && typeof error.message === "string") {
      return new ApiError(response.status, error.code, error.message, error.details ?? [], retryAfter);
    }
    return new ApiError(response.status, `http_${response.status}`, response.statusText || `HTTP ${response.status}`, [], retryAfter);
  }

  static network(cause: unknown): ApiError {
    const error = new ApiError(0, "network", cause instanceof Error ? cause.message : String(cause));
    return error;
  }
}

export function isApiError(value: unknown, code?: string): value is ApiError {
  return value instanceof ApiError && (code === undefined || value.code === code);
}

const FIELD_NAMES: Record<string, string> = {
  email: "E-mail",
  password: "Password",
  new_password: "New password",
  current_password: "Current password",
  tenant_name: "Home name",
  display_name: "Name",
  label: "Label",
  name: "Name",
  since: "From",
  until: "To",
};

function fieldName(path: string | undefined): string | null {
  if (!path) return null;
  // "body.password" → "password"; "query.since" → "since"
  const last = path.split(".").pop() ?? path;
  return FIELD_NAMES[last] ?? null;
}

/** What went wrong and what the person can do about it, in one or two sentences. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) {
    return "Something went wrong in the page. Reload it; if this keeps happening, tell your administrator.";
  }
  switch (error.code) {
    case "network":
      return "The Guardian cloud cannot be reached. Check your internet connection and try again.";
    case "bad_credentials":
      return error.message === "current password is wrong"
        ? "The current password is wrong."
        : "Wrong e-mail or password. Check both and try again.";
    case "email_taken":
      return "An account with this e-mail already exists. Sign in instead, or use another e-mail.";
    case "rate_limited": {
      const minutes = error.retryAfter ? Math.ceil(error.retryAfter / 60) : null;
      const what = error.message.startsWith("too many sign-ups") ? "Too many new accounts from here" : "Too many failed attempts";
      return minutes
        ? `${what}. Wait ${minutes} minute${minutes === 1 ? "" : "s"} and try again.`
        : `${what}. Wait a few minutes and try again.`;
    }
    case "no_relay":
      return "Your home has no relay yet: it is assigned when you add your first device (Devices page).";
    case "relay_pool_empty":
      return "No relay is free for your home right now; we have been told. Try adding the device again later.";
    case "no_clip":
      return "This event has no recorded clip.";
    case "invalid_request": {
      const parts = error.details
        .map((d) => {
          const name = fieldName(d.field);
          return name && d.problem ? `${name}: ${lowerFirst(d.problem)}` : null;
        })
        .filter((p): p is string => p !== null);
      return parts.length ? `Please correct: ${parts.join("; ")}.` : "Some of the values are not valid. Check the form.";
    }
    case "naive_time":
    case "range_too_long":
      return `${capitalise(error.message)}.`;
    case "last_admin":
      return "A home needs at least one administrator. Make someone else an administrator first.";
    case "quota_exceeded":
      return `${capitalise(error.message)}. See Settings for your plan's limits.`;
    case "too_large":
      return "That is more data than the cloud accepts in one request.";
  }
  if (error.status === 401) return "Your session has ended. Sign in again.";
  if (error.status === 403) return "Your account is not allowed to do this. Ask an administrator of your home.";
  if (error.status === 404) return `${capitalise(error.message)}. It may have been removed; go back and reload the list.`;
  if (error.status === 405) return "This cloud does not support that action yet.";
  if (error.status >= 500) return "The Guardian cloud had a problem answering. Try again in a minute.";
  return `${capitalise(error.message)}.`;
}

function capitalise(text: string): string {
  return text ? text[0]!.toUpperCase() + text.slice(1).replace(/\.$/, "") : text;
}

function lowerFirst(text: string): string {
  return text ? text[0]!.toLowerCase() + text.slice(1).replace(/\.$/, "") : text;
}
