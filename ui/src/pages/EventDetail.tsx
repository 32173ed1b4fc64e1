import { useCallback } from "react";
import { Link, useParams } from "react-router";
import { isApiError, type EventPublic } from "../api";
import { ArchivePlayer } from "../archive/ArchivePlayer";
import { cameraTitle } from "../api/cameras";
import { ClipPlayer } from "../components/ClipPlayer";
import { DeviceStatusBadge, ErrorNotice, Loading } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useLiveEvents } from "../hooks";
import { formatDateTime, formatDuration, formatLabel, viewerTimeZone } from "../state/format";
import { applyEventVersion } from "../state/live";

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

  return (
    <section className="page">
      <p>
        <Link to="/events">← All events</Link>
      </p>
      <ErrorNotice error={error} onRetry={isApiError(error) && error.status === 404 ? undefined : reload}
                   title="This event could not be loaded" />
      {loading && !data && <Loading />}
      {data && (
        <>
          <h1>
            {formatLabel(data.event.label)} on {data.camera ? cameraTitle(data.camera) : data.event.camera}
          </h1>
          <ClipPlayer event={data.event} device={data.device} />
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
