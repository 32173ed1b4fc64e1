import { useCallback, useEffect, useMemo, useReducer, useRef, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import type { Api } from "../api";
import { cameraTitle } from "../api/cameras";
import type { CameraPublic, EventFilters, EventPublic } from "../api/types";
import { EmptyState, ErrorNotice, Loading } from "../components/Feedback";
import { ReviewBar } from "../components/ReviewBar";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useLiveEvents } from "../hooks";
import { formatLabel, formatTime, viewerTimeZone } from "../state/format";
import type { LiveStatus } from "../state/live";
import { useStore } from "../state/store";
import "./Events.css";
import { initialItems, itemsReducer } from "../state/reviewItems";
import { filtersFromParams, filtersToParams, localInputToIso, matchesFilters } from "../state/timeline";
import { ItemList } from "./EventsItems";

const COMMON_LABELS = ["person", "car", "truck", "bicycle", "motorcycle", "bus", "train", "dog", "cat"];
const PAGE_SIZE = 30; // review items: each stands for a few events

/** ISO → the value a datetime-local input shows (viewer's zone). */
function isoToLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function EventsPage() {
  useDocumentTitle("Events");
  const { api, session } = useServices();
  const sessionState = useStore(session);
  const hasRelay = sessionState.status === "signed-in" && Boolean(sessionState.tenant?.relay_url);
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  // The timeline lists review items (a camera's overlapping activity), not one row per track (issue #20).
  const [state, dispatch] = useReducer(itemsReducer, filters, initialItems);
  // Live arrivals since the filters were set, newest first (the announcement, and the first page's refresh).
  const [arrived, setArrived] = useState<EventPublic[]>([]);
  const [live, setLive] = useState<LiveStatus>("connecting");
  const cameras = useAsync(() => api.cameras.list(), [api]);
  const cameraNames = useMemo(() => new Map((cameras.data ?? []).map((c) => [c.name, cameraTitle(c)])), [cameras.data]);
  const zones = useAsync(() => configuredZones(api), [api]);
  // When the list was last loaded from its start: "mark all reviewed" marks what started before it.
  const [loadedAt, setLoadedAt] = useState(() => new Date().toISOString());

  const load = useCallback(
    async (cursor: string | null, target: EventFilters) => {
      dispatch({ type: "load", more: cursor !== null });
      if (cursor === null) setLoadedAt(new Date().toISOString());
      try {
        const page = await api.reviewItems.list(target, cursor, PAGE_SIZE);
        dispatch({ type: "page", items: page.items, nextCursor: page.next_cursor, append: cursor !== null });
      } catch (error) {
        dispatch({ type: "failed", error });
      }
    },
    [api],
  );

  // New filters: start over.
  const filterKey = JSON.stringify(filters);
  useEffect(() => {
    dispatch({ type: "filter", filters });
    setArrived([]);
    void load(null, filters);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filterKey, load]);

  // Live arrivals for the camera/label filters (the rest is checked here): an event new or changed makes its
  // item new or changed, so the first page is asked for again and merged in.
  const refreshFirstPage = useCallback(() => {
    api.reviewItems.list(filters, null, PAGE_SIZE).then(
      (page) => dispatch({ type: "page", items: page.items, nextCursor: null, refresh: true }),
      () => undefined,
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filterKey]);
  useLiveEvents(api.events.streamUrl({ camera: filters.camera, label: filters.label }), {
    onEvent: (event) => {
      if (!matchesFilters(event, filters)) return;
      setArrived((known) => (known.some((e) => e.id === event.id) ? known : [event, ...known].slice(0, 20)));
      refreshFirstPage();
    },
    onStatus: setLive,
    onResync: refreshFirstPage,
    refresh: () => api.client.refresh(),
  });

  // The member's unread items follow the filters (but camera: the badges show each camera's) and live arrivals
  // (the newest one's id: `arrived` keeps only 20, so its length stops changing after a minute of a busy camera).
  const unread = useAsync(
    () => api.reviewItems.unread({ label: filters.label, zone: filters.zone, severity: filters.severity,
                                   since: filters.since, until: filters.until }),
    [api, filters.label, filters.zone, filters.severity, filters.since, filters.until, arrived[0]?.id],
  );
  const onMarked = (before: string) => {
    dispatch({ type: "reviewed", before });
    unread.reload();
    // An item that gained events since the list was loaded stays unreviewed: the cloud's summary says so.
    if (filters.reviewed) void load(null, filters);
    else refreshFirstPage();
  };

  // A camera the page has not heard of (added since the page loaded its cameras: its first items are arriving
  // now) is shown by its id until the cameras are asked for again: once per such camera.
  const askedForCameras = useRef(new Set<string>());
  const reloadCameras = cameras.reload;
  useEffect(() => {
    if (!cameras.data) return;
    const unknown = [...state.items.map((i) => i.camera), ...arrived.map((e) => e.camera)]
      .filter((name) => !cameraNames.has(name) && !askedForCameras.current.has(name));
    if (unknown.length === 0) return;
    for (const name of unknown) askedForCameras.current.add(name);
    reloadCameras();
  }, [state.items, arrived, cameras.data, cameraNames, reloadCameras]);

  const newest = arrived[0];

  return (
    <section className="page">
      <div className="page-head">
        <h1>Events</h1>
        <LiveIndicator status={live} />
      </div>
      {/* On a phone the review controls and the filters' button share rows (Events.css). */}
      <div className="review-tools">
        <ReviewBar filters={filters} unread={unread.data} loadedAt={loadedAt} cameraNames={cameraNames}
                   markAll={(from, before) => api.reviewItems.markAll(from, before)} onMarked={onMarked}
                   onCamera={(camera) => setParams(filtersToParams({ ...filters, camera }))} />
        <CollapsibleFilters filters={filters} cameraNames={cameraNames} onApply={(next) => setParams(filtersToParams(next))}>
          {(close) => (
            <FilterForm filters={filters} cameras={cameras.data ?? []} zones={zones.data ?? []}
                        unreadByCamera={new Map((unread.data?.cameras ?? []).map((c) => [c.camera, c.count]))}
                        onApply={(next) => {
                          close();
                          setParams(filtersToParams(next));
                        }} />
          )}
        </CollapsibleFilters>
      </div>
      <p className="visually-hidden" aria-live="polite" aria-atomic="true">
        {newest ? `New event: ${formatLabel(newest.label)} on ${cameraNames.get(newest.camera) ?? newest.camera} at ${formatTime(newest.start_at)}` : ""}
      </p>
      <ErrorNotice error={state.status === "error" ? state.error : null} onRetry={() => load(null, filters)}
                   title="Events could not be loaded" />
      {state.status === "loading" && <Loading label="Loading events…" />}
      {state.status !== "loading" && state.items.length === 0 && state.status !== "error" && (
        <EmptyState title={Object.keys(filters).length ? "No events match these filters" : "No events yet"}>
          <p>
            {Object.keys(filters).length
              ? "Try a wider date range or clear the filters."
              : "When a camera sees a person, vehicle or animal, its activity appears here within a second."}
          </p>
        </EmptyState>
      )}
      <ItemList api={api} items={state.items} cameraNames={cameraNames} thumbnails={hasRelay} query={params.toString()}
                fresh={new Set(arrived.map((e) => e.review_item ?? e.id))}
                onReviewed={(id, reviewed) => {
                  dispatch({ type: "reviewed", ids: [id], reviewed });
                  unread.reload();
                }} />
      {state.nextCursor && (
        <div className="more">
          <button type="button" className="button secondary" disabled={state.status === "loading-more"}
                  onClick={() => load(state.nextCursor, filters)}>
            {state.status === "loading-more" ? "Loading…" : "Load older activity"}
          </button>
        </div>
      )}
      <p className="muted small">Times are shown in your time zone ({viewerTimeZone()}).</p>
    </section>
  );
}

function LiveIndicator({ status }: { status: LiveStatus }) {
  const text = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", stopped: "Paused" }[status];
  return (
    <span className={`live live-${status}`} role="status">
      <span className="dot" aria-hidden="true" /> {text}
    </span>
  );
}

/** The names of the zones drawn on the tenant's cameras (every device's desired config), sorted; a device
 * whose config cannot be read just adds none. */
async function configuredZones(api: Api): Promise<string[]> {
  const devices = await api.devices.list();
  const configs = await Promise.all(devices.map((d) => api.deviceConfig.get(d.id).catch(() => null)));
  const names = new Set<string>();
  for (const config of configs) {
    for (const camera of config?.cameras ?? []) for (const zone of camera.detection?.zones ?? []) names.add(zone.name);
  }
  return [...names].sort();
}

/** The zones an event touched, as chips (names only: the cloud never holds their geometry). */
export function ZoneChips({ zones }: { zones: string[] }) {
  if (zones.length === 0) return null;
  return (
    <span className="event-zones" aria-label={`Zones: ${zones.join(", ")}`}>
      {zones.map((zone) => (
        <span key={zone} className="badge badge-muted" data-testid="zone-chip">
          {zone}
        </span>
      ))}
    </span>
  );
}

const FILTER_NAMES: Record<keyof EventFilters, string> = {
  camera: "Camera", label: "What", zone: "Zone", since: "From", until: "To", severity: "Severity", reviewed: "Reviewed",
};

/**
 * On a phone the filter form would fill the first screen: there it folds behind a button, and the
 * filters in force show as chips (each removable). On wider screens the form is always shown.
 */
function CollapsibleFilters({ filters, cameraNames, onApply, children }: {
  filters: EventFilters; cameraNames: Map<string, string>; onApply: (f: EventFilters) => void;
  children: (close: () => void) => React.ReactNode;
}) {
  const [open, setOpen] = useState(false);
  const active = (Object.keys(FILTER_NAMES) as (keyof EventFilters)[]).filter((key) => filters[key]);
  const shown = (key: keyof EventFilters) => {
    const value = filters[key]!;
    if (key === "camera") return cameraNames.get(value) ?? value;
    if (key === "since" || key === "until") return new Date(value).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
    if (key === "reviewed") return value === "false" ? "not yet" : "yes";
    if (key === "severity") return value === "alert" ? "Alerts" : "Detections";
    return key === "label" ? formatLabel(value) : value;
  };
  return (
    <div className={open ? "filter-bar open" : "filter-bar"}>
      <div className="filter-chips">
        <button type="button" className="button secondary filter-toggle" aria-expanded={open} aria-controls="event-filters"
                onClick={() => setOpen((o) => !o)}>
          Filters{active.length ? ` (${active.length})` : ""}
        </button>
        {active.map((key) => (
          <button key={key} type="button" className="chip" aria-label={`Remove filter ${FILTER_NAMES[key]}: ${shown(key)}`}
                  onClick={() => onApply({ ...filters, [key]: undefined })}>
            {FILTER_NAMES[key]}: {shown(key)} <span aria-hidden="true">×</span>
          </button>
        ))}
      </div>
      <div id="event-filters" className="filter-panel">{children(() => setOpen(false))}</div>
    </div>
  );
}

function FilterForm({ filters, cameras, zones, unreadByCamera, onApply }: {
  filters: EventFilters; cameras: CameraPublic[]; zones: string[]; unreadByCamera: Map<string, number>;
  onApply: (f: EventFilters) => void;
}) {
  const [camera, setCamera] = useState(filters.camera ?? "");
  const [label, setLabel] = useState(filters.label ?? "");
  const [zone, setZone] = useState(filters.zone ?? "");
  const [severity, setSeverity] = useState(filters.severity ?? "");
  const [reviewed, setReviewed] = useState(filters.reviewed ?? "");
  // A bookmarked zone stays selectable after it was removed from the camera's config.
  const zoneOptions = filters.zone && !zones.includes(filters.zone) ? [...zones, filters.zone] : zones;
  const [since, setSince] = useState(isoToLocalInput(filters.since));
  const [until, setUntil] = useState(isoToLocalInput(filters.until));
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    setCamera(filters.camera ?? "");
    setLabel(filters.label ?? "");
    setZone(filters.zone ?? "");
    setSeverity(filters.severity ?? "");
    setReviewed(filters.reviewed ?? "");
    setSince(isoToLocalInput(filters.since));
    setUntil(isoToLocalInput(filters.until));
  }, [filters]);

  function submit(event: FormEvent) {
    event.preventDefault();
    const next: EventFilters = {
      camera: camera || undefined,
      label: label.trim().toLowerCase() || undefined,
      zone: zone || undefined,
      severity: severity || undefined,
      reviewed: reviewed || undefined,
      since: localInputToIso(since),
      until: localInputToIso(until),
    };
    if (next.since && next.until && next.since >= next.until) {
      setProblem("“From” must be before “To”.");
      return;
    }
    setProblem(null);
    onApply(next);
  }

  return (
    <form className="filters card" onSubmit={submit} aria-label="Filter events">
      <div className="field">
        <label htmlFor="f-camera">Camera</label>
        <select id="f-camera" value={camera} onChange={(e) => setCamera(e.target.value)}>
          <option value="">All cameras</option>
          {cameras.map((c) => (
            <option key={c.id} value={c.name}>
              {cameraTitle(c)}{unreadByCamera.get(c.name) ? ` (${unreadByCamera.get(c.name)} unreviewed)` : ""}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="f-label">What</label>
        <input id="f-label" list="f-labels" value={label} placeholder="Anything" onChange={(e) => setLabel(e.target.value)} />
        <datalist id="f-labels">
          {COMMON_LABELS.map((l) => (
            <option key={l} value={l} />
          ))}
        </datalist>
      </div>
      {zoneOptions.length > 0 && (
        <div className="field">
          <label htmlFor="f-zone">Zone</label>
          <select id="f-zone" value={zone} onChange={(e) => setZone(e.target.value)}>
            <option value="">All zones</option>
            {zoneOptions.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
        </div>
      )}
      <div className="field">
        <label htmlFor="f-severity">Severity</label>
        <select id="f-severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
          <option value="">Alerts and detections</option>
          <option value="alert">Alerts</option>
          <option value="detection">Detections</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="f-reviewed">Reviewed</label>
        <select id="f-reviewed" value={reviewed} onChange={(e) => setReviewed(e.target.value)}>
          <option value="">Reviewed or not</option>
          <option value="false">Not yet reviewed</option>
          <option value="true">Reviewed</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="f-since">From</label>
        <input id="f-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="f-until">To</label>
        <input id="f-until" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
      </div>
      <div className="filter-actions">
        <button type="submit" className="button">Apply</button>
        <button type="button" className="button secondary" onClick={() => onApply({})}>
          Clear
        </button>
      </div>
      {problem && (
        <p className="form-problem" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
