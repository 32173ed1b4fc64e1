import { useState } from "react";
import { describeError } from "../api";
import type { EventFilters, UnreadPublic } from "../api/types";

/**
 * The timeline's review controls: how many review items the signed-in member has not reviewed (for the
 * camera filtered on, or in total with a badge per camera that filters on it), and "Mark all reviewed" for
 * the timeline's filters. Only what started before the list was loaded (`loadedAt`) is marked: what arrives
 * meanwhile stays unreviewed.
 */
export function ReviewBar({ filters, unread, loadedAt, cameraNames, markAll, onMarked, onCamera }: {
  filters: EventFilters;
  unread: UnreadPublic | undefined;
  loadedAt: string;
  cameraNames: Map<string, string>;
  markAll: (filters: EventFilters, loadedAt: string) => Promise<unknown>;
  onMarked: (before: string) => void;
  onCamera: (camera: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const count = unread === undefined ? null
    : filters.camera ? (unread.cameras.find((c) => c.camera === filters.camera)?.count ?? 0) : unread.total;

  async function markAllReviewed() {
    setBusy(true);
    setProblem(null);
    try {
      await markAll(filters, loadedAt);
      onMarked(loadedAt);
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="review-bar">
      {count !== null && (
        <span className={count ? "badge badge-warn" : "badge badge-muted"} data-testid="unread-badge" role="status">
          {count === 0 ? "All reviewed" : `${count} unreviewed`}
        </span>
      )}
      {!filters.camera && (unread?.cameras.length ?? 0) > 1 && (
        <span className="unread-cameras">
          {unread!.cameras.map(({ camera, count: n }) => (
            <button key={camera} type="button" className="chip" data-testid="camera-unread" onClick={() => onCamera(camera)}
                    aria-label={`${cameraNames.get(camera) ?? camera}: ${n} unreviewed, show only this camera`}>
              {cameraNames.get(camera) ?? camera} <span className="chip-count">{n}</span>
            </button>
          ))}
        </span>
      )}
      <button type="button" className="button secondary" disabled={busy || count === 0} onClick={() => void markAllReviewed()}>
        {busy ? "Marking…" : "Mark all reviewed"}
      </button>
      {problem && <span className="form-problem" role="alert">{problem}</span>}
    </div>
  );
}
