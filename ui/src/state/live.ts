// Live arrivals over Server-Sent Events (`GET /api/v1/events/stream`, `event: event`).
//
// The browser's EventSource reconnects by itself after a network drop, but gives up (readyState
// CLOSED) when the server answers with an error, which is what happens when the 10-minute access
// cookie has expired. Then the access cookie is renewed through the refresh cookie and the stream is
// opened again, with growing pauses. When the browser reconnects by itself it sends the last message's
// `id:` (a cursor, not the event id) as Last-Event-ID and the stream first replays what was missed, up to a
// bound (some events may come twice: applyEventVersion merges them); a new EventSource has no cursor. So
// after any reconnect the page still reloads the newest events (onResync).
import type { Confidence, EventPublic } from "../api/types";

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: never, ev: Event) => unknown) | null;
  onerror: ((this: never, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export type LiveStatus = "connecting" | "live" | "reconnecting" | "stopped";

export interface LiveEventsOptions {
  url: string;
  onEvent: (event: EventPublic) => void;
  onStatus?: (status: LiveStatus) => void;
  /** Called when the stream is open again after a gap. */
  onResync?: () => void;
  /** Renew the access cookie; true when it worked. */
  refresh: () => Promise<boolean>;
  factory?: EventSourceFactory;
  delays?: number[];
  schedule?: (fn: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
}

const CLOSED = 2;
const DEFAULT_DELAYS = [1000, 2000, 5000, 10000, 30000];

export const browserEventSource: EventSourceFactory = (url) =>
  new EventSource(url, { withCredentials: true }) as unknown as EventSourceLike;

export function parseEventMessage(data: string): EventPublic | null {
  try {
    const value = JSON.parse(data) as Partial<EventPublic>;
    if (typeof value.id !== "string" || typeof value.start_at !== "string" || typeof value.label !== "string") return null;
    return value as EventPublic;
  } catch {
    return null;
  }
}

const CONFIDENCE_RANK: Record<Confidence, number> = { unspecified: 0, low: 1, medium: 2, high: 3 };

/**
 * The event a page shows once `incoming` (a message from the stream, or a fresh GET) is taken in. The
 * relay reports an event again when it learns more (its end, its clip once assembled, a higher
 * confidence, another zone entered: an edge only appends to an event's zones) and versions only ever add information, as the cloud merges them: so an older version
 * arriving late changes nothing. Returns `current` itself, the same object, when `incoming` is another
 * event or adds nothing, so that an unrelated or repeated message re-renders nothing.
 */
export function applyEventVersion(current: EventPublic, incoming: EventPublic): EventPublic {
  if (incoming.id !== current.id) return current;
  const laterEnd = incoming.end_at !== null && (current.end_at === null || Date.parse(incoming.end_at) > Date.parse(current.end_at));
  const clip = incoming.has_clip && !current.has_clip;
  const higherConfidence = (CONFIDENCE_RANK[incoming.confidence] ?? 0) > (CONFIDENCE_RANK[current.confidence] ?? 0);
  const moreZones = incoming.zones.length > current.zones.length;
  if (!laterEnd && !clip && !higherConfidence && !moreZones) return current;
  return {
    ...current,
    end_at: laterEnd ? incoming.end_at : current.end_at,
    has_clip: current.has_clip || incoming.has_clip,
    confidence: higherConfidence ? incoming.confidence : current.confidence,
    zones: moreZones ? incoming.zones : current.zones,
  };
}

export class LiveEvents {
  private source: EventSourceLike | null = null;
  private attempt = 0;
  private timer: unknown = null;
  private everOpened = false;
  private stopped = true;
  private status: LiveStatus = "stopped";
  private readonly opts: Required<Omit<LiveEventsOptions, "onResync" | "onStatus">> &
    Pick<LiveEventsOptions, "onResync" | "onStatus">;

  constructor(options: LiveEventsOptions) {
    this.opts = {
      factory: browserEventSource,
      delays: DEFAULT_DELAYS,
      schedule: (fn, ms) => setTimeout(fn, ms),
      cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      ...options,
    };
  }

  get current(): LiveStatus {
    return this.status;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.opts.cancel(this.timer);
    this.timer = null;
    this.source?.close();
    this.source = null;
    this.setStatus("stopped");
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.opts.onStatus?.(status);
  }

  private open(): void {
    this.setStatus(this.everOpened ? "reconnecting" : "connecting");
    const source = this.opts.factory(this.opts.url);
    this.source = source;
    source.onopen = () => {
      if (this.source !== source) return;
      this.attempt = 0;
      this.setStatus("live");
      if (this.everOpened) this.opts.onResync?.();
      this.everOpened = true;
    };
    source.addEventListener("event", (message: MessageEvent) => {
      if (this.source !== source) return;
      const event = parseEventMessage(String(message.data));
      if (event) this.opts.onEvent(event);
    });
    source.onerror = () => {
      if (this.source !== source || this.stopped) return;
      if (source.readyState !== CLOSED) {
        // The browser reconnects by itself (network drop, server restart).
        this.setStatus("reconnecting");
        return;
      }
      source.close();
      this.source = null;
      this.setStatus("reconnecting");
      const delay = this.opts.delays[Math.min(this.attempt, this.opts.delays.length - 1)] ?? 30000;
      this.attempt += 1;
      void this.opts.refresh().catch(() => false).then(() => {
        if (this.stopped) return;
        this.timer = this.opts.schedule(() => {
          this.timer = null;
          if (!this.stopped) this.open();
        }, delay);
      });
    };
  }
}
