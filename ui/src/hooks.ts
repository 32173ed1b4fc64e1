import { useCallback, useEffect, useRef, useState } from "react";
import type { EventPublic } from "./api/types";
import { LiveEvents, type LiveStatus } from "./state/live";

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: (previous: T | undefined) => T | undefined) => void;
}

/** Run `load` when `deps` change; a newer run wins over an older one still in flight. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const run = useRef(0);

  useEffect(() => {
    const id = ++run.current;
    setLoading(true);
    load().then(
      (value) => {
        if (run.current !== id) return;
        setDataState(value);
        setError(null);
        setLoading(false);
      },
      (reason: unknown) => {
        if (run.current !== id) return;
        setError(reason);
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((update: (previous: T | undefined) => T | undefined) => setDataState(update), []);
  return { data, error, loading, reload, setData };
}

/** Re-render every `ms` (relative times such as "3 minutes ago"). */
export function useNow(ms = 30_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Guardian` : "Guardian";
  }, [title]);
}

export interface LiveHandlers {
  onEvent: (event: EventPublic) => void;
  onStatus?: (status: LiveStatus) => void;
  /** The stream is open again after a gap (it does not replay what was missed). */
  onResync?: () => void;
  /** Renew the access cookie; true when it worked. */
  refresh: () => Promise<boolean>;
}

/**
 * The live event stream at `url` (state/live.ts) while the component is mounted; none while `url` is
 * null. A new `url` reconnects; new handlers do not (the latest ones are called).
 */
export function useLiveEvents(url: string | null, handlers: LiveHandlers): void {
  const latest = useRef(handlers);
  useEffect(() => {
    latest.current = handlers;
  });
  useEffect(() => {
    if (url === null) return;
    const stream = new LiveEvents({
      url,
      onEvent: (event) => latest.current.onEvent(event),
      onStatus: (status) => latest.current.onStatus?.(status),
      onResync: () => latest.current.onResync?.(),
      refresh: () => latest.current.refresh(),
    });
    stream.start();
    return () => stream.stop();
  }, [url]);
}
