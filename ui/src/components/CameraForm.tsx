// Add or edit one camera of a device's desired configuration: its streams, its credentials (sealed in this
// page to the device's config key before anything is sent) and what it should detect.
import { useEffect, useId, useState, type FormEvent, type ReactNode } from "react";
import { describeError, isApiError } from "../api";
import { DETECTION_LABELS, type CameraConfig, type ConfigKey, type DetectionLabel } from "../api/deviceConfig";
import { sealCredentials, sodium } from "../crypto/seal";
import {
  absorbUrlCredentials,
  buildCamera,
  hasNewCredentials,
  inferencesPerFrame,
  INPUT_SIZES,
  inputSizeFromValue,
  inputSizeValue,
  storedKeyIsStale,
  suggestName,
  TILE_GRIDS,
  tileGridValue,
  tilesFromValue,
  validateDraft,
  type CameraDraft,
  type DraftField,
  type DraftProblems,
} from "./cameraDraft";
import { StreamTest } from "./StreamTest";
import { ZoneEditor } from "./ZoneEditor";
import "./CameraForm.css";

export interface CameraFormProps {
  initial: CameraDraft;
  /** A new camera gets its name here; a saved one keeps it (events and recordings carry it). */
  isNew: boolean;
  otherNames: string[];
  configKey: ConfigKey | null;
  /** The device the camera is on: "Test connection" asks it to open the stream. */
  deviceId: string;
  /** The saved camera whose picture the zone editor draws on; null for a camera not saved yet. */
  pictureCamera?: string | null;
  /** Save the camera into the device's list; rejects with the cloud's error. */
  onSave: (camera: CameraConfig) => Promise<void>;
  onCancel: () => void;
}

/** The cloud's refusals of a save, in words for people (others: describeError). */
export function describeSaveError(error: unknown): string {
  if (isApiError(error, "version_conflict")) {
    return "Someone else changed this device's cameras while you were editing. The list now shows their "
      + "version; check your entries and save again.";
  }
  if (isApiError(error, "stale_config_key")) {
    return "The device has a new key since this page loaded. Enter the user name and password again to seal them for it.";
  }
  if (isApiError(error, "no_config_key")) {
    return "The device has not sent its key for camera logins yet, so they cannot be sealed for it. Save without them for now.";
  }
  if (isApiError(error, "credentials_in_url")) return "Put the user name and password in their own fields, not in the address.";
  if (error instanceof Error && error.name === "SealError") return `The password could not be sealed: ${error.message}.`;
  return describeError(error);
}

export function CameraForm({ initial, isNew, otherNames, configKey, deviceId, pictureCamera = null, onSave, onCancel }: CameraFormProps) {
  const id = useId();
  const [draft, setDraft] = useState<CameraDraft>(initial);
  const [nameTouched, setNameTouched] = useState(!isNew);
  const [problems, setProblems] = useState<DraftProblems>({});
  const [moved, setMoved] = useState<ReactNode>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const context = { otherNames, configKey };

  // Load the sealing library while the person types, not when they press Save.
  useEffect(() => {
    if (configKey) sodium().catch(() => undefined); // a failure shows on save, where it is retried
  }, [configKey]);

  function update(change: Partial<CameraDraft>) {
    setDraft((d) => ({ ...d, ...change }));
  }

  /** Credentials typed into an address move to their own fields as soon as the address is left. */
  function absorb(current: CameraDraft): CameraDraft {
    const result = absorbUrlCredentials(current);
    if (result.moved) {
      setMoved(result.conflict
        ? "The two addresses held different user names or passwords; the main stream's are used for both."
        : "The user name and password were taken out of the address into their own fields. They are sealed for "
          + "the device before saving; the address is saved without them.");
    }
    return result.draft;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const ready = absorb(draft);
    setDraft(ready);
    const found = validateDraft(ready, context);
    setProblems(found);
    setError(null);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const camera = await buildCamera(ready, (username, password) => sealCredentials(username, password, configKey!));
      await onSave(camera);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  const field = (name: DraftField) => `${id}-${name}`;
  const problem = (name: DraftField) =>
    problems[name] ? <small id={`${field(name)}-problem`} className="field-problem">{problems[name]}</small> : null;
  const described = (name: DraftField, hint = false) =>
    [hint ? `${field(name)}-hint` : "", problems[name] ? `${field(name)}-problem` : ""].filter(Boolean).join(" ") || undefined;
  const stale = storedKeyIsStale(draft, configKey);

  return (
    <form className="camera-form" onSubmit={submit} noValidate aria-label={isNew ? "New camera" : `Edit ${initial.displayName || initial.name}`}>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={field("displayName")}>Camera name</label>
          <input id={field("displayName")} value={draft.displayName} maxLength={100} aria-describedby={described("displayName")}
                 onChange={(e) => update({ displayName: e.target.value, ...(nameTouched ? {} : { name: suggestName(e.target.value) }) })} />
          {problem("displayName")}
        </div>
        <div className="field">
          <label htmlFor={field("name")}>Short name on the device</label>
          <input id={field("name")} value={draft.name} readOnly={!isNew} maxLength={32} spellCheck={false}
                 aria-invalid={!!problems.name} aria-describedby={described("name", true)}
                 onChange={(e) => { setNameTouched(true); update({ name: e.target.value }); }} />
          <small id={`${field("name")}-hint`} className="hint">
            {isNew ? "Lowercase letters, digits, - and _; events and recordings carry it." : "Fixed: events and recordings carry it."}
          </small>
          {problem("name")}
        </div>
      </div>

      <div className="field">
        <label htmlFor={field("url")}>Stream address</label>
        <input id={field("url")} value={draft.url} inputMode="url" spellCheck={false} autoComplete="off"
               placeholder="rtsp://192.168.1.20:554/stream1" aria-invalid={!!problems.url} aria-describedby={described("url")}
               onChange={(e) => update({ url: e.target.value })} onBlur={() => setDraft(absorb)} />
        {problem("url")}
        <StreamTest deviceId={deviceId} draft={draft} configKey={configKey} />
      </div>
      <div className="field">
        <label htmlFor={field("detectUrl")}>Sub-stream for detection (optional)</label>
        <input id={field("detectUrl")} value={draft.detectUrl} inputMode="url" spellCheck={false} autoComplete="off"
               placeholder="rtsp://192.168.1.20:554/stream2" aria-invalid={!!problems.detectUrl}
               aria-describedby={described("detectUrl", true)}
               onChange={(e) => update({ detectUrl: e.target.value })} onBlur={() => setDraft(absorb)} />
        <small id={`${field("detectUrl")}-hint`} className="hint">A smaller stream saves the device work; empty: the main stream.</small>
        {problem("detectUrl")}
      </div>

      <fieldset className="credentials">
        <legend>Camera login</legend>
        {moved && <p className="notice small" role="status">{moved}</p>}
        {!configKey ? (
          <p className="notice notice-warn small" data-testid="no-config-key">
            This device has not sent its key for camera logins yet (it does when it connects to its relay), so a
            password cannot be sealed for it. Connect the device first to add a login; cameras without one can be
            saved now.
          </p>
        ) : draft.stored && !stale ? (
          <p className="small muted">
            A user name and password are stored, sealed for this device. Type new ones to replace them.{" "}
            <button type="button" className="link-button" onClick={() => update({ stored: null })}>Remove them</button>
          </p>
        ) : draft.stored && stale ? (
          <p className="notice notice-warn small">
            The stored login was sealed to an earlier key of this device (it was reset or enrolled again). Enter it
            again, or{" "}
            <button type="button" className="link-button" onClick={() => update({ stored: null })}>remove it</button>.
          </p>
        ) : (
          <p className="small muted">Sealed in this page for the device: only the device can read the password.</p>
        )}
        <div className="form-grid">
          <div className="field">
            <label htmlFor={field("username")}>User name</label>
            <input id={field("username")} value={draft.username} autoComplete="off" spellCheck={false}
                   aria-invalid={!!problems.username} aria-describedby={described("username")}
                   onChange={(e) => update({ username: e.target.value })} />
            {problem("username")}
          </div>
          <div className="field">
            <label htmlFor={field("password")}>Password</label>
            {/* new-password: the browser must not fill in the person's own Guardian password here */}
            <input id={field("password")} type="password" value={draft.password} autoComplete="new-password"
                   aria-invalid={!!problems.password} aria-describedby={described("password")}
                   onChange={(e) => update({ password: e.target.value })} />
            {problem("password")}
          </div>
        </div>
      </fieldset>

      <fieldset className="detection">
        <legend>What to detect</legend>
        <p className="small muted">None ticked: the device's default labels.</p>
        <div className="label-grid">
          {(Object.keys(DETECTION_LABELS) as DetectionLabel[]).map((label) => (
            <label key={label} className="check">
              <input type="checkbox" checked={draft.labels.includes(label)}
                     onChange={(e) => update({ labels: e.target.checked ? [...draft.labels, label] : draft.labels.filter((l) => l !== label) })} />
              {DETECTION_LABELS[label]}
            </label>
          ))}
        </div>
        {draft.labels.length > 0 && (
          <div className="thresholds">
            {draft.labels.map((label) => (
              <div className="field" key={label}>
                <label htmlFor={`${field("thresholds")}-${label}`}>Minimum score for {DETECTION_LABELS[label].toLowerCase()} (%)</label>
                <input id={`${field("thresholds")}-${label}`} type="number" min={0} max={100} step={1} inputMode="decimal"
                       placeholder="default" value={draft.thresholds[label] ?? ""}
                       onChange={(e) => update({ thresholds: { ...draft.thresholds, [label]: e.target.value } })} />
              </div>
            ))}
          </div>
        )}
        {problem("thresholds")}
        <div className="form-grid">
          <div className="field">
            <label htmlFor={field("minArea")}>Smallest object (% of the picture)</label>
            <input id={field("minArea")} type="number" min={0} max={99} step={0.1} inputMode="decimal" placeholder="default"
                   value={draft.minArea} aria-describedby={described("minArea")} onChange={(e) => update({ minArea: e.target.value })} />
            {problem("minArea")}
          </div>
          <div className="field">
            <label htmlFor={field("tiles")}>Detection tiles</label>
            <select id={field("tiles")} value={tileGridValue(draft.tiles)} aria-describedby={`${field("tiles")}-hint`}
                    onChange={(e) => update({ tiles: tilesFromValue(e.target.value, draft.tiles) })}>
              <option value="">Whole frame</option>
              {tileGridOptions(tileGridValue(draft.tiles)).map(([columns, rows]) => (
                <option key={`${columns}x${rows}`} value={`${columns}x${rows}`}>{columns}×{rows}</option>
              ))}
            </select>
            <small id={`${field("tiles")}-hint`} className="hint">
              For small, distant objects; each tile is one more inference (now {inferencesPerFrame(draft.tiles)} per frame).
            </small>
          </div>
          <div className="field">
            <label htmlFor={field("inputSize")}>Detail</label>
            <select id={field("inputSize")} value={inputSizeValue(draft.inputSize)} aria-describedby={`${field("inputSize")}-hint`}
                    onChange={(e) => update({ inputSize: inputSizeFromValue(e.target.value) })}>
              <option value="">Default</option>
              {INPUT_SIZES.map((size) => <option key={size} value={String(size)}>{size}</option>)}
            </select>
            <small id={`${field("inputSize")}-hint`} className="hint">
              Larger finds smaller, more distant people. Default: the model's own (640 for the shipped one); 416 costs
              about half the CPU.
            </small>
          </div>
          <div className="field">
            <label htmlFor={field("retentionDays")}>Keep continuous recording (days)</label>
            <input id={field("retentionDays")} type="number" min={0} max={3650} step={1} inputMode="numeric" placeholder="default"
                   value={draft.retentionDays} aria-describedby={described("retentionDays")}
                   onChange={(e) => update({ retentionDays: e.target.value })} />
            {problem("retentionDays")}
          </div>
        </div>
      </fieldset>

      <fieldset className="zones">
        <legend>Zones and masks</legend>
        <p className="small muted">
          Zones name areas of the picture (events say which they touch); masks hide areas from detection (a street, a
          neighbour's window).
        </p>
        <ZoneEditor zones={draft.zones ?? []} masks={draft.masks ?? []} onChange={(areas) => update(areas)}
                    picture={pictureCamera ? { deviceId, camera: pictureCamera } : null} problem={problems.zones} />
        {(draft.zones ?? []).some((zone) => zone.name) && (
          <fieldset className="alert-zones">
            <legend>Alert zones</legend>
            <p className="small muted">What you alert on (below) in a ticked zone is an alert; everything else is a detection.</p>
            {(draft.zones ?? []).filter((zone) => zone.name).map((zone) => (
              <label key={zone.name} className="check">
                <input type="checkbox" checked={(draft.alertZones ?? []).includes(zone.name)}
                       onChange={(e) => update({ alertZones: e.target.checked
                         ? [...(draft.alertZones ?? []), zone.name]
                         : (draft.alertZones ?? []).filter((name) => name !== zone.name) })} />
                {zone.name}
              </label>
            ))}
            <fieldset className="alert-labels">
              <legend>Alert on</legend>
              <p className="small muted">None ticked: a person or any vehicle. A vehicle stands for every vehicle.</p>
              <div className="label-grid">
                {(draft.labels.length ? draft.labels : Object.keys(DETECTION_LABELS) as DetectionLabel[]).map((label) => (
                  <label key={label} className="check">
                    <input type="checkbox" checked={(draft.alertLabels ?? []).includes(label)}
                           onChange={(e) => update({ alertLabels: e.target.checked
                             ? [...(draft.alertLabels ?? []), label]
                             : (draft.alertLabels ?? []).filter((l) => l !== label) })} />
                    {DETECTION_LABELS[label]}
                  </label>
                ))}
              </div>
            </fieldset>
          </fieldset>
        )}
      </fieldset>

      <label className="check">
        <input type="checkbox" checked={draft.enabled} onChange={(e) => update({ enabled: e.target.checked })} />
        Enabled (recorded and watched)
      </label>

      {error ? (
        <div className="notice notice-error" role="alert">
          <strong>Not saved</strong>
          <p>{describeSaveError(error)}</p>
        </div>
      ) : null}
      <div className="row-actions">
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Saving…" : isNew ? "Add camera" : "Save camera"}
        </button>
        <button type="button" className="button secondary" onClick={onCancel} disabled={busy}>Cancel</button>
        {hasNewCredentials(draft) && configKey && <span className="small muted">The password is sealed before it is sent.</span>}
      </div>
    </form>
  );
}

/** The offered grids, plus the camera's own when the API set one the list does not hold (say 1×3). */
function tileGridOptions(current: string): (readonly [number, number])[] {
  const grids = [...TILE_GRIDS];
  const match = /^(\d)x(\d)$/.exec(current);
  if (match && !grids.some(([c, r]) => `${c}x${r}` === current)) grids.push([Number(match[1]), Number(match[2])]);
  return grids;
}
