import { useState } from "react";
import type { Api } from "../api";
import { describeError } from "../api";
import type { EventFilters, UnreadPublic } from "../api/types";

/**
 * The timeline's review controls: how many events the signed-in member has not reviewed (for the camera
 * filtered on, or all cameras), and "Mark all reviewed" for the timeline's filters. Only events that
 * started before the list was loaded (`loadedAt`) are marked: what arrives meanwhile stays unreviewed.
 */
export function ReviewBar({ api, filters, unread, loadedAt, onMarked }: {
  api: Api;
  filters: EventFilters;
  unread: UnreadPublic | undefined;
  loadedAt: string;
  onMarked: (before: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const count = unread === undefined ? null
    : filters.camera ? (unread.cameras.find((c) => c.camera === filters.camera)?.count ?? 0) : unread.total;

  async function markAll() {
    setBusy(true);
    setProblem(null);
    try {
      await api.reviews.markAll(filters, loadedAt);
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
      <button type="button" className="button secondary" disabled={busy || count === 0} onClick={() => void markAll()}>
        {busy ? "Marking…" : "Mark all reviewed"}
      </button>
      {problem && <span className="form-problem" role="alert">{problem}</span>}
    </div>
  );
}
