import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { cameraTitle } from "../api/cameras";
import type { CameraPublic } from "../api/types";
import { CameraStateBadge, EmptyState, ErrorNotice, Loading } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useNow } from "../hooks";
import { formatRelative } from "../state/format";
import { isAdmin } from "../state/session";
import { useStore } from "../state/store";

export function CamerasPage() {
  useDocumentTitle("Cameras");
  const { api, session } = useServices();
  const admin = isAdmin(useStore(session));
  const now = useNow();
  const { data, error, loading, reload, setData } = useAsync(() => api.cameras.list(), [api]);

  return (
    <section className="page">
      <div className="page-head">
        <h1>Cameras</h1>
        <button type="button" className="button secondary" onClick={reload} disabled={loading}>
          Refresh
        </button>
      </div>
      <ErrorNotice error={error} onRetry={reload} title="Cameras could not be loaded" />
      {loading && !data && <Loading />}
      {data && data.length === 0 && (
        <EmptyState title="No cameras yet">
          <p>
            Cameras appear once a device at home reports them. <Link to="/devices">Add a device</Link> first.
          </p>
        </EmptyState>
      )}
      {data && data.length > 0 && (
        <ul className="cards">
          {data.map((camera) => (
            <CameraCard key={camera.id} camera={camera} admin={admin} now={now}
                        onRenamed={(c) => setData((list) => list?.map((x) => (x.id === c.id ? c : x)))} />
          ))}
        </ul>
      )}
    </section>
  );
}

function CameraCard({ camera, admin, now, onRenamed }: {
  camera: CameraPublic; admin: boolean; now: Date; onRenamed: (camera: CameraPublic) => void;
}) {
  const { api } = useServices();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(cameraTitle(camera));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const inputId = `rename-${camera.id}`;

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onRenamed(await api.cameras.rename(camera.id, name.trim()));
      setEditing(false);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className="card camera">
      <div className="camera-head">
        <h2>{cameraTitle(camera)}</h2>
        <CameraStateBadge state={camera.state} />
      </div>
      <p className="muted small">
        Camera “{camera.name}” on device {camera.device_id} · last frame {formatRelative(camera.last_frame_at, now)}
      </p>
      <ErrorNotice error={error} title="Could not rename" />
      {editing ? (
        <form className="inline-form" onSubmit={save}>
          <label htmlFor={inputId}>New name</label>
          <input id={inputId} value={name} required maxLength={100} autoFocus onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="button" disabled={busy || !name.trim()}>
            Save
          </button>
          <button type="button" className="button secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <div className="row-actions">
          <Link className="button secondary" to={`/events?camera=${encodeURIComponent(camera.name)}`}>
            Events
          </Link>
          {admin && (
            <button type="button" className="button secondary" onClick={() => setEditing(true)}
                    aria-label={`Rename ${cameraTitle(camera)}`}>
              Rename
            </button>
          )}
        </div>
      )}
    </li>
  );
}
