import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { isApiError, type EventPublic } from "../api";
import { ArchivePlayer } from "../archive/ArchivePlayer";
import { cameraTitle } from "../api/cameras";
import { ClipPlayer } from "../components/ClipPlayer";
import { EventSnapshot } from "../components/EventSnapshot";
import { DeviceStatusBadge, ErrorNotice, Loading } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useLiveEvents } from "../hooks";
import { formatDateTime, formatDuration, formatLabel, viewerTimeZone } from "../state/format";
import { clipMarkers, downloadName, findNeighbours, shortcutFor, type EventTrack, type Neighbours } from "../state/eventPage";
import { applyEventVersion } from "../state/live";
import { filtersFromParams } from "../state/timeline";
import { ZoneChips } from "./Events";

export function EventDetailPage() {
  const { eventId = "" } = useParams();
  const { api } = useServices();
  const { data, error, loading, reload, setData } = useAsync(async () => {
    const event = await api.events.get(eventId);
    const [device, cameras] = await Promise.all([
      api.devices.get(event.device_id).catch((e: unknown) => {
        if (isApiError(e) && e.status === 404) return null;
        throw e;
      }),
      api.cameras.list(),
    ]);
    const camera = cameras.find((c) => c.device_id === event.device_id && c.name === event.camera) ?? null;
    return { event, device, camera };
  }, [api, eventId]);
  useDocumentTitle(data ? `${formatLabel(data.event.label)} event` : "Event");

  // The event as it becomes known (its end, then its clip): updated in place from the live stream.
  const applyVersion = useCallback((incoming: EventPublic) => setData((previous) => {
    if (!previous) return previous;
    const event = applyEventVersion(previous.event, incoming);
    return event === previous.event ? previous : { ...previous, event };
  }), [setData]);
  useEventVersions(data?.event ?? null, applyVersion);

  // The list this page was opened from: its filters travel in the query, for previous/next and the way back.
  const [params] = useSearchParams();
  const query = params.toString() ? `?${params.toString()}` : "";
  const filters = useMemo(() => filtersFromParams(params), [params]);
  // Only the shown event's (while the next one loads, the page still holds the last one's data).
  const shown = data?.event.id === eventId ? data.event : null;
  const neighbours = useNeighbours(shown, filters);
  // Opening an event is reviewing it, for this member only (a failure just leaves it unreviewed).
  const shownId = shown?.id ?? null;
  const shownReviewed = shown?.reviewed ?? false;
  useEffect(() => {
    if (shownId && !shownReviewed) api.reviews.mark(shownId).catch(() => undefined);
  }, [api, shownId, shownReviewed]);
  const [track, setTrack] = useState<EventTrack | null>(null);
  useEffect(() => setTrack(null), [eventId]);
  const page = useRef<HTMLElement>(null);
  useShortcuts(page, neighbours, query);
  const cameraName = data ? (data.camera ? cameraTitle(data.camera) : data.event.camera) : "";

  return (
    <section className="page" ref={page}>
      <div className="event-nav">
        <Link to={`/events${query}`}>← All events</Link>
        <EventNavigation neighbours={neighbours} query={query} eventId={shown && neighbours ? shown.id : null} />
      </div>
      <ErrorNotice error={error} onRetry={isApiError(error) && error.status === 404 ? undefined : reload}
                   title="This event could not be loaded" />
      {loading && !data && <Loading />}
      {data && (
        <>
          <h1>
            {formatLabel(data.event.label)} on {data.camera ? cameraTitle(data.camera) : data.event.camera}
          </h1>
          <EventSnapshot key={data.event.id} event={data.event} cameraName={cameraName} onTrack={setTrack} />
          <ClipPlayer event={data.event} device={data.device}
                      downloadName={downloadName(data.event.camera, data.event.start_at, data.event.label)}
                      markers={track ? clipMarkers(track, track.clip_duration_s) : []}
                      clipDuration={track?.clip_duration_s ?? 0} />
          <p className="shortcuts muted small">
            Keys: <kbd>j</kbd> next, <kbd>k</kbd> previous, <kbd>Space</kbd> play or pause, <kbd>←</kbd> <kbd>→</kbd> 5 s back or on.
          </p>
          <dl className="facts card">
            <div>
              <dt>Started</dt>
              <dd>
                <time dateTime={data.event.start_at}>{formatDateTime(data.event.start_at)}</time>
              </dd>
            </div>
            <div>
              <dt>Ended</dt>
              <dd>
                {data.event.end_at
                  ? <time dateTime={data.event.end_at}>{formatDateTime(data.event.end_at)}</time>
                  : "Not yet"}
              </dd>
            </div>
            {data.event.end_at && (
              <div>
                <dt>Duration</dt>
                <dd>{formatDuration(data.event.start_at, data.event.end_at)}</dd>
              </div>
            )}
            {data.event.zones.length > 0 && (
              <div>
                <dt>Zones</dt>
                <dd>
                  <ZoneChips zones={data.event.zones} />
                </dd>
              </div>
            )}
            <div>
              <dt>Confidence</dt>
              <dd>{data.event.confidence}</dd>
            </div>
            <div>
              <dt>Device</dt>
              <dd>
                {data.device ? (
                  <>
                    {data.device.name || data.device.id} <DeviceStatusBadge status={data.device.status} />
                  </>
                ) : (
                  data.event.device_id
                )}
              </dd>
            </div>
            <div>
              <dt>Time zone</dt>
              <dd>{viewerTimeZone()}</dd>
            </div>
          </dl>
          <ArchivePlayer eventId={data.event.id}
                         label={`${formatLabel(data.event.label)} on ${data.camera ? cameraTitle(data.camera) : data.event.camera}`} />
        </>
      )}
      {isApiError(error) && error.status === 404 && (
        <p>
          <Link to="/events">Back to the events</Link>
        </p>
      )}
    </section>
  );
}

/** The events above and below in the list the page was opened from (null until known). */
function useNeighbours(event: EventPublic | null, filters: ReturnType<typeof filtersFromParams>): Neighbours | null {
  const { api } = useServices();
  const [found, setFound] = useState<{ key: string; neighbours: Neighbours } | null>(null);
  const id = event?.id ?? null;
  const start = event?.start_at ?? null;
  const filterKey = JSON.stringify(filters);
  const key = `${id}|${filterKey}`;
  useEffect(() => {
    if (!event) return;
    let cancelled = false;
    findNeighbours(event, filters, (f, cursor, limit) => api.events.list(f, cursor, limit)).then(
      (neighbours) => !cancelled && setFound({ key, neighbours }),
      () => !cancelled && setFound({ key, neighbours: { previous: null, next: null } }),
    );
    return () => {
      cancelled = true;
    };
    // Only the event's identity and place matter, not its later versions.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, id, start, filterKey]);
  // Those found for another event or other filters are never shown (nor followed by j/k).
  return event && found?.key === key ? found.neighbours : null;
}

function EventNavigation({ neighbours, query, eventId }: { neighbours: Neighbours | null; query: string; eventId: string | null }) {
  const link = (event: EventPublic | null | undefined, text: string, rel: string) =>
    event ? (
      <Link className="button secondary" rel={rel} to={`/events/${encodeURIComponent(event.id)}${query}`}
            aria-label={`${text}: ${formatLabel(event.label)} at ${formatDateTime(event.start_at)}`}>
        {text}
      </Link>
    ) : (
      <span className="button secondary" aria-disabled="true">{text}</span>
    );
  return (
    <nav className="nav-buttons" aria-label="Other events" data-neighbours-of={eventId ?? undefined}>
      {link(neighbours?.previous, "← Newer", "prev")}
      {link(neighbours?.next, "Older →", "next")}
    </nav>
  );
}

/** j/k: the next (older) / previous (newer) event; space: play or pause; arrows: 5 s back or on. */
function useShortcuts(page: React.RefObject<HTMLElement | null>, neighbours: Neighbours | null, query: string) {
  const navigate = useNavigate();
  useEffect(() => {
    function onKey(key: KeyboardEvent) {
      const action = shortcutFor(key);
      if (!action) return;
      const video = page.current?.querySelector("video") ?? null;
      if (action === "next" || action === "previous") {
        const target = action === "next" ? neighbours?.next : neighbours?.previous;
        if (target) navigate(`/events/${encodeURIComponent(target.id)}${query}`);
        return;
      }
      if (!video) return;
      key.preventDefault();
      if (action === "play-pause") {
        if (video.paused) void video.play().catch(() => undefined);
        else video.pause();
      } else {
        const step = action === "back" ? -5 : 5;
        video.currentTime = Math.max(0, Math.min(video.duration || Infinity, video.currentTime + step));
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [page, neighbours, query, navigate]);
}

/**
 * Newer versions of `event` while the page shows it: the stream of its camera and label (others' are
 * not even sent), and the event fetched again whenever the stream is (re)connected, since the stream does
 * not replay a version that came before it was open.
 */
function useEventVersions(event: EventPublic | null, apply: (version: EventPublic) => void) {
  const { api } = useServices();
  const id = event?.id ?? null;
  useLiveEvents(event ? api.events.streamUrl({ camera: event.camera, label: event.label }) : null, {
    onEvent: apply,
    onStatus: (status) => {
      if (status === "live" && id !== null) api.events.get(id).then(apply, () => undefined);
    },
    refresh: () => api.client.refresh(),
  });
}
