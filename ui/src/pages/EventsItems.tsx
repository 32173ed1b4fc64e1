import { useState } from "react";
import { Link } from "react-router";
import type { Api } from "../api";
import { describeError } from "../api";
import type { EventPublic, ReviewItemPublic } from "../api/types";
import { Thumbnail } from "../components/Thumbnail";
import { dayKey, formatDay, formatLabel, formatLabels, formatTime } from "../state/format";

/** The timeline's rows: one per review item (a camera's overlapping activity), grouped by day. */
export function ItemList({ api, items, cameraNames, thumbnails, query, fresh, onReviewed }: {
  api: Api;
  items: ReviewItemPublic[];
  /** Items that live arrivals made new or changed since the list was loaded. */
  fresh: Set<string>;
  cameraNames: Map<string, string>;
  thumbnails: boolean;
  /** The list's filters, carried to the event pages (their previous/next and the way back). */
  query: string;
  onReviewed: (id: string, reviewed: boolean) => void;
}) {
  const groups: { key: string; title: string; items: ReviewItemPublic[] }[] = [];
  for (const item of items) {
    const key = dayKey(item.start_at);
    const group = groups[groups.length - 1];
    if (group && group.key === key) group.items.push(item);
    else groups.push({ key, title: formatDay(item.start_at), items: [item] });
  }
  return (
    <>
      {groups.map((group) => (
        <section key={group.key} className="day" aria-label={group.title}>
          <h2 className="day-title">{group.title}</h2>
          <ul className="events" data-testid="event-list">
            {group.items.map((item) => (
              <ItemRow key={item.id} api={api} item={item} cameraName={cameraNames.get(item.camera) ?? item.camera}
                       thumbnails={thumbnails} query={query} fresh={fresh.has(item.id)} onReviewed={onReviewed} />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

function eventHref(id: string, query: string): string {
  return `/events/${encodeURIComponent(id)}${query ? `?${query}` : ""}`;
}

function ItemRow({ api, item, cameraName, thumbnails, query, fresh, onReviewed }: {
  api: Api; item: ReviewItemPublic; cameraName: string; thumbnails: boolean; query: string; fresh: boolean;
  onReviewed: (id: string, reviewed: boolean) => void;
}) {
  const [open, setOpen] = useState(false);
  const [events, setEvents] = useState<EventPublic[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const title = formatLabels(item.labels);
  // The best event's thumbnail shows the item; it is asked for again when the item changes.
  const best = { id: item.best_event_id, label: item.labels[0] ?? "", end_at: item.end_at, has_clip: item.event_count > 0 };
  const listId = `item-events-${item.id}`;

  async function toggle() {
    const next = !open;
    setOpen(next);
    if (!next) return;
    setProblem(null);
    try {
      setEvents((await api.reviewItems.events(item.id)).items);
    } catch (error) {
      setProblem(describeError(error));
    }
  }

  async function review() {
    setBusy(true);
    setProblem(null);
    try {
      if (item.reviewed) await api.reviewItems.unmark(item.id);
      else await api.reviewItems.mark(item.id);
      onReviewed(item.id, !item.reviewed);
      setEvents((shown) => shown && shown.map((e) => ({ ...e, reviewed: !item.reviewed })));
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className={["event", "item", fresh && "fresh", !item.reviewed && "unreviewed"].filter(Boolean).join(" ")}
        data-reviewed={item.reviewed ? "true" : "false"} data-item={item.id}>
      <Link to={eventHref(item.best_event_id, query)} className="event-link">
        <Thumbnail event={best} enabled={thumbnails} />
        <span className="event-main">
          <span className="event-label" title={title}>
            {!item.reviewed && <span className="unreviewed-dot" aria-label="Not reviewed" role="img" />}
            {title}
          </span>
          <span className="muted item-where">
            <span>{cameraName}</span> · <time dateTime={item.start_at}>{formatTime(item.start_at)}</time>
            {"–"}
            {item.end_at ? <time dateTime={item.end_at}>{formatTime(item.end_at)}</time> : <span>now</span>}
          </span>
          {item.zones.length > 0 && (
            <span className="event-zones" aria-label={`Zones: ${item.zones.join(", ")}`}>
              {item.zones.map((zone) => (
                <span key={zone} className="badge badge-muted" data-testid="zone-chip">{zone}</span>
              ))}
            </span>
          )}
        </span>
        <span className="event-side">
          {item.severity === "alert" && <span className="badge badge-bad">Alert</span>}
          {fresh && <span className="badge badge-ok">New</span>}
        </span>
      </Link>
      <div className="item-actions">
        {/* On a phone the words fold away (kept for screen readers): the count and a tick stay. */}
        <button type="button" className="button secondary small" aria-expanded={open} aria-controls={listId} onClick={() => void toggle()}>
          {item.event_count}<span className="item-words">{item.event_count === 1 ? " event" : " events"}</span>
        </button>
        <button type="button" className={item.reviewed ? "button secondary small item-review done" : "button secondary small item-review"}
                disabled={busy} onClick={() => void review()}>
          <span className="item-words">{item.reviewed ? "Mark unreviewed" : "Mark reviewed"}</span>
        </button>
        {problem && <span className="form-problem" role="alert">{problem}</span>}
      </div>
      {open && (
        <ul id={listId} className="item-events" aria-label={`Events of ${title} on ${cameraName}`}>
          {events === null && !problem && <li className="muted small">Loading…</li>}
          {(events ?? []).map((event) => (
            <li key={event.id} className="item-event" data-reviewed={event.reviewed ? "true" : "false"}>
              <Link to={eventHref(event.id, query)}>
                {formatLabel(event.label)} · <time dateTime={event.start_at}>{formatTime(event.start_at)}</time>
                {event.severity === "alert" && <> · Alert</>}
                {event.has_clip && <span className="muted small"> · Clip</span>}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
