// "Find cameras": the device searches its own network for ONVIF cameras (through the relay; takes seconds),
// and the person picks one to prefill the add form with its name and stream addresses. A camera that protects
// its media service answers without its streams: its login, sealed here to the device's key, has the device
// ask it again, and goes on into the add form.
import { useId, useRef, useState, type FormEvent } from "react";
import { describeError, isApiError } from "../api";
import { describeCamera, describeFailure, describeRelayError, discoverCameras, isRelayError, type DiscoveredCamera, type DiscoveredProfile, type Discovery } from "../api/cameraAccess";
import type { ConfigKey } from "../api/deviceConfig";
import { useServices } from "../context";
import { sealCredentials } from "../crypto/seal";
import { emptyDraft, suggestName, type CameraDraft } from "./cameraDraft";
import { Loading } from "./Feedback";

/** The host of a camera's device service URL ("http://192.168.1.20:80/onvif/device_service" → "192.168.1.20"). */
export function cameraHost(address: string): string {
  try {
    return new URL(address).hostname || address;
  } catch {
    return address;
  }
}

function pixels(profile: DiscoveredProfile): number {
  return (profile.width ?? 0) * (profile.height ?? 0);
}

/** The profiles with a stream, largest first: the first records, the smallest (when another) detects. */
export function streamProfiles(camera: DiscoveredCamera): DiscoveredProfile[] {
  return camera.profiles.filter((p) => p.stream_uri).sort((a, b) => pixels(b) - pixels(a));
}

/** The add form's draft for a discovered camera: a name, the main stream and the sub-stream. */
export function draftFromDiscovery(camera: DiscoveredCamera, otherNames: string[]): CameraDraft {
  const profiles = streamProfiles(camera);
  const main = profiles[0];
  const sub = profiles.length > 1 ? profiles[profiles.length - 1] : undefined;
  const maker = [camera.manufacturer, camera.model].filter(Boolean).join(" ");
  const displayName = maker ? `${maker} (${cameraHost(camera.address)})` : cameraHost(camera.address);
  let name = suggestName(maker || `camera-${cameraHost(camera.address)}`) || "camera";
  for (let n = 2; otherNames.includes(name); n += 1) name = `${suggestName(maker || "camera").slice(0, 28)}-${n}`;
  return { ...emptyDraft(), displayName: displayName.slice(0, 100), name, url: main?.stream_uri ?? "",
           detectUrl: sub && sub.stream_uri !== main?.stream_uri ? sub.stream_uri ?? "" : "" };
}

function describeDiscoveryError(error: unknown): string {
  if (isApiError(error, "no_relay")) return "Your home has no relay yet: add a device first.";
  if (isApiError(error, "forbidden")) return "Only the home's administrators can search for cameras.";
  if (isRelayError(error)) return describeRelayError(error);
  return describeError(error);
}

function profileText(profile: DiscoveredProfile): string {
  const size = profile.width && profile.height ? `${profile.width}×${profile.height}` : "size unknown";
  return [profile.name || profile.token, profile.encoding ?? "", size, profile.fps ? `${profile.fps} fps` : ""].filter(Boolean).join(" · ");
}

export interface CameraDiscoveryProps {
  deviceId: string;
  deviceTitle: string;
  otherNames: string[];
  /** The device's key for camera logins (null until it has sent it): a login is sealed to it. */
  configKey: ConfigKey | null;
  onPick: (draft: CameraDraft) => void;
  onClose: () => void;
}

interface Login {
  username: string;
  password: string;
}

/** A login for one found camera: sealed here, the device asks the camera again with it. */
function DiscoveredLogin({ deviceId, camera, configKey, onAnswer }: {
  deviceId: string; camera: DiscoveredCamera; configKey: ConfigKey | null;
  onAnswer: (camera: DiscoveredCamera, login: Login) => void;
}) {
  const { api, relayFetch } = useServices();
  const id = useId();
  const [login, setLogin] = useState<Login>({ username: "", password: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function ask(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!configKey) throw new Error("The device has not sent its key for camera logins yet, so the password cannot be sealed.");
      const sealed = await sealCredentials(login.username, login.password, configKey);
      const grant = await api.deviceAccess.token(deviceId, ["discover"]);
      onAnswer(await describeCamera(grant, deviceId, camera.address, sealed.ciphertext, relayFetch), login);
    } catch (reason) {
      setError(isRelayError(reason) ? describeRelayError(reason) : reason instanceof Error ? reason.message : describeError(reason));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="discovered-login" onSubmit={(e) => void ask(e)}>
      <div className="field">
        <label htmlFor={`${id}-user`}>User name</label>
        <input id={`${id}-user`} value={login.username} autoComplete="off" required
               onChange={(e) => setLogin({ ...login, username: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor={`${id}-password`}>Password</label>
        <input id={`${id}-password`} type="password" value={login.password} autoComplete="new-password"
               onChange={(e) => setLogin({ ...login, password: e.target.value })} />
      </div>
      <button type="submit" className="button small" disabled={busy || !login.username}>
        {busy ? "Asking…" : "Ask with this login"}
      </button>
      {error && <p className="small apply-error" role="alert">{error}</p>}
    </form>
  );
}

export function CameraDiscovery({ deviceId, deviceTitle, otherNames, configKey, onPick, onClose }: CameraDiscoveryProps) {
  const { api, relayFetch } = useServices();
  const [logins, setLogins] = useState<Record<string, Login>>({});
  const [found, setFound] = useState<Discovery | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = useRef<AbortController | null>(null);

  async function search() {
    run.current?.abort();
    const abort = new AbortController();
    run.current = abort;
    setBusy(true);
    setError(null);
    setFound(null);
    setLogins({});
    try {
      const grant = await api.deviceAccess.token(deviceId, ["discover"]);
      const result = await discoverCameras(grant, deviceId, relayFetch, abort.signal);
      if (!abort.signal.aborted) setFound(result);
    } catch (reason) {
      if (!abort.signal.aborted) setError(reason);
    } finally {
      if (run.current === abort) setBusy(false);
    }
  }

  function close() {
    run.current?.abort();
    onClose();
  }

  /** The device's new answer for one camera; its login is kept for the add form once the camera took it. */
  function answered(camera: DiscoveredCamera, login: Login) {
    setFound((old) => old && { ...old, cameras: old.cameras.map((c) => (c.address === camera.address ? camera : c)) });
    setLogins((old) => {
      const { [camera.address]: _dropped, ...rest } = old;
      return camera.error ? rest : { ...rest, [camera.address]: login };
    });
  }

  function pick(camera: DiscoveredCamera) {
    const draft = draftFromDiscovery(camera, otherNames);
    const login = logins[camera.address];
    onPick(login ? { ...draft, username: login.username, password: login.password } : draft);
  }

  const count = found?.cameras.length ?? 0;
  return (
    <section className="discovery" aria-label={`Find cameras on ${deviceTitle}'s network`}>
      <div className="discovery-head">
        <h3>Find cameras</h3>
        <button type="button" className="button secondary small" onClick={close}>Close</button>
      </div>
      {!found && !busy && !error && (
        <>
          <p className="small muted">
            {deviceTitle} asks the cameras on its own network (ONVIF). It takes a few seconds; nothing leaves your home
            except the list.
          </p>
          <button type="button" className="button" onClick={() => void search()}>Search now</button>
        </>
      )}
      {busy && <Loading label={`Searching ${deviceTitle}'s network… this takes up to 20 seconds.`} />}
      {error ? (
        <div className="notice notice-error" role="alert">
          <strong>The search did not work</strong>
          <p>{describeDiscoveryError(error)}</p>
          <button type="button" className="button secondary" onClick={() => void search()}>Try again</button>
        </div>
      ) : null}
      {found && (
        <>
          <p role="status" data-testid="discovery-count">
            {count === 0 ? "No cameras found" : `${count} camera${count === 1 ? "" : "s"} found`}
            <span className="small muted"> in {found.took_s.toFixed(1)} s</span>
          </p>
          {count === 0 && (
            <p className="small muted">
              Check the camera is on the same network as {deviceTitle} and that ONVIF is enabled in its settings, or add it
              by its stream address.
            </p>
          )}
          <ul className="discovered">
            {found.cameras.map((camera) => {
              const title = [camera.manufacturer, camera.model].filter(Boolean).join(" ") || "Unknown camera";
              return (
                <li key={camera.address} className="discovered-camera" data-address={camera.address}>
                  <div>
                    <strong>{title}</strong> <span className="small muted">{cameraHost(camera.address)}</span>
                    {camera.error ? (
                      <>
                        <p className="small apply-error">
                          {describeFailure(camera.error)}{camera.error.detail ? ` (${camera.error.detail})` : ""}
                        </p>
                        {camera.error.kind === "auth_failed" && (
                          <DiscoveredLogin deviceId={deviceId} camera={camera} configKey={configKey} onAnswer={answered} />
                        )}
                      </>
                    ) : (
                      <ul className="small muted profiles">
                        {streamProfiles(camera).map((p) => <li key={p.token}>{profileText(p)}</li>)}
                      </ul>
                    )}
                  </div>
                  <button type="button" className="button small" aria-label={`Add ${title} at ${cameraHost(camera.address)}`}
                          onClick={() => pick(camera)}>
                    Add this camera
                  </button>
                </li>
              );
            })}
          </ul>
          <button type="button" className="button secondary small" onClick={() => void search()}>Search again</button>
        </>
      )}
    </section>
  );
}
