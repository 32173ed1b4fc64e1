import { useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { isApiError } from "../api";
import { cameraTitle } from "../api/cameras";
import {
  cameraApplyStatus,
  configCameraTitle,
  DETECTION_LABELS,
  type CameraApplyState,
  type CameraConfig,
  type DeviceConfig,
} from "../api/deviceConfig";
import type { CameraPublic, DevicePublic } from "../api/types";
import { CameraDiscovery } from "../components/CameraDiscovery";
import { CameraForm, describeSaveError } from "../components/CameraForm";
import { CameraHealth } from "../components/CameraHealth";
import { CameraPicture } from "../components/CameraPicture";
import { LiveView } from "../components/LiveView";
import { draftFromCamera, emptyDraft, type CameraDraft } from "../components/cameraDraft";
import { Badge, CameraStateBadge, EmptyState, ErrorNotice, Loading, type Tone } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useNow } from "../hooks";
import { isAdmin } from "../state/session";
import { useStore } from "../state/store";

export function CamerasPage() {
  useDocumentTitle("Cameras");
  const { api, session } = useServices();
  const admin = isAdmin(useStore(session));
  const now = useNow(HEALTH_POLL_MS);
  const devices = useAsync(() => api.devices.list(), [api]);
  const { data, error, loading, reload, setData } = useAsync(() => api.cameras.list(), [api]);
  const [round, setRound] = useState(0);

  // Live health: the cameras' state, frame rate and last frame, as the devices report them.
  useEffect(() => {
    const timer = setInterval(reload, HEALTH_POLL_MS);
    return () => clearInterval(timer);
  }, [reload]);

  function refresh() {
    devices.reload();
    reload();
    setRound((r) => r + 1);
  }

  return (
    <section className="page">
      <div className="page-head">
        <h1>Cameras</h1>
        <button type="button" className="button secondary" onClick={refresh} disabled={loading || devices.loading}>
          Refresh
        </button>
      </div>
      <ErrorNotice error={devices.error} onRetry={devices.reload} title="Devices could not be loaded" />
      {devices.loading && !devices.data && <Loading />}
      {devices.data && devices.data.length === 0 && (
        <EmptyState title="No devices yet">
          <p>
            Cameras are set up on a device at home. <Link to="/devices">Add a device</Link> first.
          </p>
        </EmptyState>
      )}
      {devices.data?.map((device) => (
        <DeviceCameras key={`${device.id}-${round}`} device={device} admin={admin} live={data ?? []} now={now} />
      ))}

      <ErrorNotice error={error} onRetry={reload} title="Cameras could not be loaded" />
      {loading && !data && !devices.loading && <Loading />}
      {data && data.length > 0 && (
        <>
          <h2 className="section-title">Reported by your devices</h2>
          <ul className="cards">
            {data.map((camera) => (
              <CameraCard key={camera.id} camera={camera} admin={admin} now={now}
                          onRenamed={(c) => {
                            setData((list) => list?.map((x) => (x.id === c.id ? c : x)));
                            // A camera added here is renamed in its device's configuration too (a new version).
                            setRound((r) => r + 1);
                          }} />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** How often the cameras' health is read again (the devices report every few seconds). */
const HEALTH_POLL_MS = 5_000;

const APPLY_TONES: Record<CameraApplyState, Tone> = { applied: "ok", pending: "warn", failed: "bad", refused: "bad", disabled: "muted" };
const APPLY_WORDS: Record<CameraApplyState, string> = {
  applied: "Applied", pending: "Pending", failed: "Failed", refused: "Refused", disabled: "Disabled",
};

/** Which camera the form is open for: a new one (maybe found by discovery), or the saved camera of that name. */
type Editing = { kind: "new"; draft?: CameraDraft } | { kind: "edit"; name: string } | null;

/** One device's configured cameras: what is desired, what the device applied, and the admin's edits. */
function DeviceCameras({ device, admin, live, now }: { device: DevicePublic; admin: boolean; live: CameraPublic[]; now: Date }) {
  const { api } = useServices();
  const { data: config, error, loading, reload, setData } = useAsync(() => api.deviceConfig.get(device.id), [api, device.id]);
  const [editing, setEditing] = useState<Editing>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [discovering, setDiscovering] = useState(false);
  const title = device.name.trim() || device.id;

  // Until the device has applied (or refused) the newest version, ask again as often as for the cameras' health,
  // so "Pending" turns into what the device did without a reload. Not while a form is open on the version shown.
  const waiting = !!config && config.reported.applied_version < config.version && config.reported.refused_version !== config.version;
  useEffect(() => {
    if (!waiting || editing) return;
    const timer = setInterval(reload, HEALTH_POLL_MS);
    return () => clearInterval(timer);
  }, [waiting, editing, reload]);

  /** PUT the whole list edited from the version on screen; a conflict loads the newer version, then rethrows. */
  async function save(current: DeviceConfig, cameras: CameraConfig[], what: string): Promise<void> {
    try {
      const next = await api.deviceConfig.save(device.id, current.version, cameras);
      setData(() => next);
      setSaved(`${what} Saved as version ${next.version}; the device applies it when it next hears from its relay.`);
    } catch (reason) {
      if (isApiError(reason, "version_conflict")) {
        const newer = await api.deviceConfig.get(device.id).catch(() => null);
        if (newer) setData(() => newer);
      }
      throw reason;
    }
  }

  async function saveFromForm(camera: CameraConfig) {
    if (!config || !editing) return;
    const cameras = [...config.cameras];
    const at = editing.kind === "edit" ? cameras.findIndex((c) => c.name === editing.name) : -1;
    if (at >= 0) cameras[at] = camera;
    else cameras.push(camera);
    await save(config, cameras, editing.kind === "new" ? `Camera “${configCameraTitle(camera)}” added.` : `Camera “${configCameraTitle(camera)}” changed.`);
    setEditing(null);
  }

  async function listAction(cameras: CameraConfig[], what: string) {
    if (!config) return;
    setBusy(true);
    setActionError(null);
    setSaved(null);
    try {
      await save(config, cameras, what);
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  }

  function toggle(camera: CameraConfig) {
    if (!config) return;
    void listAction(config.cameras.map((c) => (c.name === camera.name ? { ...c, enabled: !c.enabled } : c)),
      `Camera “${configCameraTitle(camera)}” ${camera.enabled ? "disabled" : "enabled"}.`);
  }

  function remove(camera: CameraConfig) {
    if (!config || !window.confirm(`Remove ${configCameraTitle(camera)} from ${title}? The device stops recording it.`)) return;
    void listAction(config.cameras.filter((c) => c.name !== camera.name), `Camera “${configCameraTitle(camera)}” removed.`);
  }

  const editedCamera = editing?.kind === "edit" ? config?.cameras.find((c) => c.name === editing.name) : undefined;

  return (
    <article className="card device-config" aria-labelledby={`device-${device.id}`}>
      <div className="device-config-head">
        <h2 id={`device-${device.id}`}>{title}</h2>
        {admin && config && !editing && (
          <span className="row-actions">
            {!discovering && (
              <button type="button" className="button secondary" onClick={() => { setSaved(null); setDiscovering(true); }}
                      aria-label={`Find cameras on ${title}'s network`}>
                Find cameras
              </button>
            )}
            <button type="button" className="button" onClick={() => { setSaved(null); setDiscovering(false); setEditing({ kind: "new" }); }}
                    aria-label={`Add a camera to ${title}`}>
              Add camera
            </button>
          </span>
        )}
      </div>
      {title !== device.id && <p className="muted small">Device {device.id}</p>}
      <ErrorNotice error={error} onRetry={reload} title="The device's cameras could not be loaded" />
      {loading && !config && <Loading />}
      {config && (
        <>
          <p className="small" data-testid="config-versions">
            {config.version === 0
              ? "No cameras set up here yet: the device uses its own settings file."
              : `Configuration version ${config.version} · the device has applied ${config.reported.applied_version ? `version ${config.reported.applied_version}` : "none yet"}`}
          </p>
          {!config.config_key && (
            <p className="notice notice-warn small" data-testid="device-not-connected">
              {title} has not sent its key for camera logins yet: it does when it connects to its relay. Cameras
              without a login can be added now; a user name and password once the key is here (they are sealed with
              it, and only the device can open them).
            </p>
          )}
          {saved && <p className="notice small" role="status">{saved}</p>}
          {actionError ? (
            <div className="notice notice-error" role="alert">
              <strong>Not saved</strong>
              <p>{describeSaveError(actionError)}</p>
            </div>
          ) : null}
          {config.cameras.length > 0 && (
            <ul className="config-cameras">
              {config.cameras.map((camera) => (
                <ConfiguredCamera key={camera.name} camera={camera} config={config} admin={admin} busy={busy || !!editing} now={now}
                                  live={live.find((c) => c.device_id === device.id && c.name === camera.name)}
                                  onEdit={() => { setSaved(null); setEditing({ kind: "edit", name: camera.name }); }}
                                  onToggle={() => toggle(camera)} onRemove={() => remove(camera)} />
              ))}
            </ul>
          )}
          {discovering && !editing && (
            <CameraDiscovery deviceId={device.id} deviceTitle={title} otherNames={config.cameras.map((c) => c.name)}
                             configKey={config.config_key}
                             onPick={(draft) => { setDiscovering(false); setEditing({ kind: "new", draft }); }}
                             onClose={() => setDiscovering(false)} />
          )}
          {editing && (editing.kind === "new" || editedCamera) && (
            <CameraForm
              key={editing.kind === "new" ? `new-${editing.draft?.url ?? ""}` : editing.name}
              initial={editedCamera ? draftFromCamera(editedCamera) : editing.kind === "new" && editing.draft ? editing.draft : emptyDraft()}
              deviceId={device.id}
              pictureCamera={editing.kind === "edit" ? editing.name : null}
              isNew={editing.kind === "new"}
              otherNames={config.cameras.map((c) => c.name).filter((n) => editing.kind === "new" || n !== editing.name)}
              configKey={config.config_key}
              onSave={saveFromForm}
              onCancel={() => setEditing(null)}
            />
          )}
        </>
      )}
    </article>
  );
}

function ConfiguredCamera({ camera, config, admin, busy, live, now, onEdit, onToggle, onRemove }: {
  camera: CameraConfig; config: DeviceConfig; admin: boolean; busy: boolean; live: CameraPublic | undefined; now: Date;
  onEdit: () => void; onToggle: () => void; onRemove: () => void;
}) {
  const status = cameraApplyStatus(config, camera);
  const title = configCameraTitle(camera);
  const labels = camera.detection?.labels ?? [];
  return (
    <li className="config-camera" data-camera={camera.name}>
      <div className="config-camera-head">
        <h3>{title}</h3>
        <span className="row-actions">
          <span data-testid="apply-state"><Badge tone={APPLY_TONES[status.state]}>{APPLY_WORDS[status.state]}</Badge></span>
          {live && <CameraStateBadge state={live.state} />}
        </span>
      </div>
      <p className="muted small stream">
        “{camera.name}” · {camera.record.url}
        {camera.record.credentials ? " · login stored (sealed)" : ""}
        {" · "}
        {labels.length ? `detects ${labels.map((l) => DETECTION_LABELS[l].toLowerCase()).join(", ")}` : "default detection"}
      </p>
      {status.state === "pending" && (
        <p className="small muted">Waiting for the device to apply version {config.version}.</p>
      )}
      {live && <CameraHealth camera={live} now={now} badge={false} />}
      {status.error && <p className="small apply-error" data-testid="apply-error">{status.error}</p>}
      {admin && (
        <div className="row-actions">
          <button type="button" className="button secondary small" onClick={onEdit} disabled={busy} aria-label={`Edit ${title}`}>
            Edit
          </button>
          <button type="button" className="button secondary small" onClick={onToggle} disabled={busy}
                  aria-label={`${camera.enabled ? "Disable" : "Enable"} ${title}`}>
            {camera.enabled ? "Disable" : "Enable"}
          </button>
          <button type="button" className="button danger small" onClick={onRemove} disabled={busy} aria-label={`Remove ${title}`}>
            Remove
          </button>
        </div>
      )}
    </li>
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
  const [live, setLive] = useState(false);
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
      {live ? (
        <LiveView deviceId={camera.device_id} camera={camera.name} title={cameraTitle(camera)} />
      ) : (
        <CameraPicture deviceId={camera.device_id} camera={camera.name} title={cameraTitle(camera)} online={camera.state === "streaming" ? true : camera.state === "failed" ? false : undefined} />
      )}
      <CameraHealth camera={camera} now={now} badge={false} />
      <p className="muted small">Camera “{camera.name}” on device {camera.device_id}</p>
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
          <button type="button" className="button" onClick={() => setLive((on) => !on)} aria-pressed={live}
                  aria-label={`${live ? "Stop live view of" : "Watch live"} ${cameraTitle(camera)}`}>
            {live ? "Stop live" : "Live"}
          </button>
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
