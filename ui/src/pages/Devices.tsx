import { useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { bootstrapTokenState } from "../api/devices";
import type { BootstrapTokenIssued, BootstrapTokenPublic, DevicePublic } from "../api/types";
import { Badge, DeviceStatusBadge, EmptyState, ErrorNotice, Loading } from "../components/Feedback";
import { Field } from "../components/Field";
import { MqttSettings } from "../components/MqttSettings";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useNow } from "../hooks";
import { formatDateTime, formatRelative } from "../state/format";
import { isAdmin } from "../state/session";
import { useStore } from "../state/store";
import { ImageDownload, TokenQr } from "./DeviceImage";
import "./Devices.css";

/** The desired camera setup's version against the one the device applied (details: the Cameras page). */
function ConfigVersions({ device }: { device: DevicePublic }) {
  const { desired_config_version: desired, applied_config_version: applied } = device;
  if (!desired) return <span className="muted">Settings file</span>;
  return (
    <>
      {applied >= desired
        ? <Badge tone="ok">Version {applied} applied</Badge>
        : <Badge tone="warn">{applied ? `Version ${applied} of ${desired} applied` : `Version ${desired} pending`}</Badge>}
      <small className="block"><Link to="/cameras">Cameras</Link></small>
    </>
  );
}

/** How often the device list refreshes while a new device is expected. */
export const DEVICE_POLL_MS = 5_000;

export function DevicesPage() {
  useDocumentTitle("Devices");
  const { api, session } = useServices();
  const sessionState = useStore(session);
  const admin = isAdmin(sessionState);
  const relayUrl = sessionState.status === "signed-in" ? sessionState.tenant?.relay_url ?? null : null;
  // host:port of the relay's enrolment endpoint (what `--relay` takes), as the cloud puts it in the image.
  const relayEnrolment = sessionState.status === "signed-in" ? sessionState.tenant?.relay_enrolment_endpoint ?? null : null;
  const now = useNow();
  const devices = useAsync(() => api.devices.list(), [api]);
  const tokens = useAsync(() => (admin ? api.devices.bootstrapTokens() : Promise.resolve([])), [api, admin]);
  const [actionError, setActionError] = useState<unknown>(null);
  // While a new device's token is on screen, the list refreshes by itself so the device shows up live.
  const [waiting, setWaiting] = useState(false);
  const reloadDevices = devices.reload;
  const reloadTokens = tokens.reload;
  useEffect(() => {
    if (!waiting) return;
    const timer = window.setInterval(() => {
      reloadDevices();
      reloadTokens();
    }, DEVICE_POLL_MS);
    return () => window.clearInterval(timer);
  }, [waiting, reloadDevices, reloadTokens]);

  async function revokeDevice(device: DevicePublic) {
    if (!window.confirm(`Remove “${device.name || device.id}”? It will no longer be able to send events or video.`)) return;
    setActionError(null);
    try {
      await api.devices.revoke(device.id);
      devices.reload();
    } catch (error) {
      setActionError(error);
    }
  }

  async function revokeToken(id: string) {
    setActionError(null);
    try {
      await api.devices.revokeBootstrapToken(id);
      tokens.reload();
    } catch (error) {
      setActionError(error);
    }
  }

  return (
    <section className="page">
      <div className="page-head">
        <h1>Devices</h1>
      </div>
      <ErrorNotice error={actionError} title="That did not work" />
      <ErrorNotice error={devices.error} onRetry={devices.reload} title="Devices could not be loaded" />
      {devices.loading && !devices.data && <Loading />}
      {devices.data && devices.data.length === 0 && (
        <EmptyState title="No devices yet">
          <p>A device is the small computer at home that watches your cameras. Add one below.</p>
        </EmptyState>
      )}
      {devices.data && devices.data.length > 0 && (
        <div className="table-wrap card">
          <table className="table device-table">
            <caption className="visually-hidden">Your devices</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Health</th>
                <th scope="col">Last report</th>
                <th scope="col">Version</th>
                <th scope="col">Cameras setup</th>
                {admin && <th scope="col"><span className="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {devices.data.map((d) => (
                <tr key={d.id}>
                  <td className="device-name">
                    <strong>{d.name || d.id}</strong>
                    {d.name && d.name !== d.id && <small className="block muted">{d.id}</small>}
                  </td>
                  <td data-label="Health">
                    <DeviceStatusBadge status={d.status} />
                    {d.reason && <small className="block muted">{d.reason}</small>}
                  </td>
                  <td data-label="Last report">{formatRelative(d.last_seen_at, now)}</td>
                  <td data-label="Version">{d.agent_version || "—"}</td>
                  <td data-label="Cameras setup" data-testid="config-state"><ConfigVersions device={d} /></td>
                  {admin && (
                    <td className="device-actions">
                      <button type="button" className="button danger small" onClick={() => revokeDevice(d)}
                              aria-label={`Remove ${d.name || d.id}`}>
                        Remove
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {admin && devices.data && devices.data.length > 0 && <HomeAssistant devices={devices.data} />}

      {admin ? (
        <>
          <AddDevice relayUrl={relayUrl} relayEnrolment={relayEnrolment} tokens={tokens.data} now={now}
                     onIssued={tokens.reload} onWaiting={setWaiting} />
          <section className="card" aria-labelledby="tokens-heading">
            <h2 id="tokens-heading">Enrolment tokens</h2>
            <ErrorNotice error={tokens.error} onRetry={tokens.reload} />
            {tokens.data && tokens.data.length === 0 && <p className="muted">No tokens issued yet.</p>}
            {tokens.data && tokens.data.length > 0 && (
              <ul className="plain-list">
                {tokens.data.map((t) => {
                  const state = bootstrapTokenState(t, now);
                  return (
                    <li key={t.id}>
                      <span>
                        <strong>{t.label || "Unlabelled"}</strong>
                        <small className="muted"> issued {formatDateTime(t.created_at)}, expires {formatRelative(t.expires_at, now)}</small>
                      </span>
                      <span className="row-actions">
                        <Badge tone={state === "pending" ? "warn" : state === "used" ? "ok" : "muted"}>{state}</Badge>
                        {state === "pending" && (
                          <button type="button" className="button secondary small" onClick={() => revokeToken(t.id)}
                                  aria-label={`Revoke token ${t.label || t.id}`}>
                            Revoke
                          </button>
                        )}
                      </span>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>
        </>
      ) : (
        <p className="muted">Only administrators of your home can add or remove devices.</p>
      )}
    </section>
  );
}

/** Each device's MQTT broker for Home Assistant, opened one at a time (its form loads when opened). */
function HomeAssistant({ devices }: { devices: DevicePublic[] }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section className="card" aria-labelledby="ha-heading">
      <h2 id="ha-heading">Home Assistant (MQTT)</h2>
      {devices.map((d) => (
        <details key={d.id} open={open === d.id}
                 onToggle={(e) => { const isOpen = e.currentTarget.open; setOpen((o) => (isOpen ? d.id : o === d.id ? null : o)); }}>
          <summary>{d.name || d.id}</summary>
          {open === d.id && <MqttSettings deviceId={d.id} />}
        </details>
      ))}
    </section>
  );
}

function relayAddress(relayUrl: string | null): string {
  if (!relayUrl) return "RELAY";
  try {
    return new URL(relayUrl).host;
  } catch {
    return relayUrl;
  }
}

function AddDevice({ relayUrl, relayEnrolment, tokens, now, onIssued, onWaiting }: {
  relayUrl: string | null; relayEnrolment: string | null; tokens: BootstrapTokenPublic[] | undefined; now: Date;
  onIssued: () => void; onWaiting: (waiting: boolean) => void;
}) {
  const { api, session } = useServices();
  const [label, setLabel] = useState("");
  const [issued, setIssued] = useState<BootstrapTokenIssued | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);
  // Still refreshing after the token is used: the device's row and health follow its first reports.
  useEffect(() => onWaiting(issued !== null), [issued, onWaiting]);
  // The token list (refreshed with the devices while waiting) tells when the device has used the token.
  const issuedRow = issued ? tokens?.find((t) => t.id === issued.id) : undefined;
  const issuedState = issuedRow ? bootstrapTokenState(issuedRow, now) : "pending";

  async function issue(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setIssued(await api.devices.issueBootstrapToken(label.trim()));
      setCopied(false);
      onIssued();
      // The first token assigns the home's relay: show its address in the steps below.
      if (!relayUrl) session.setTenant(await api.tenant.get());
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!issued) return;
    try {
      await navigator.clipboard.writeText(issued.token);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }

  const relay = relayEnrolment ?? relayAddress(relayUrl);
  return (
    <section className="card" aria-labelledby="add-heading">
      <h2 id="add-heading">Add a device</h2>
      {!relayUrl && !issued && (
        <p className="muted" data-testid="relay-pending">
          Your relay is assigned when you add your first device: creating its enrolment token does that.
        </p>
      )}
      {issued && issuedState !== "pending" ? (
        <TokenDone state={issuedState} onAnother={() => setIssued(null)} />
      ) : !issued ? (
        <form onSubmit={issue} className="inline-form">
          <Field label="Where is it? (optional)" value={label} maxLength={100} placeholder="e.g. Hall cupboard"
                 onChange={(e) => setLabel(e.target.value)} />
          <button type="submit" className="button" disabled={busy}>
            {busy ? "Creating…" : "Create enrolment token"}
          </button>
        </form>
      ) : (
        <div className="issued">
          <div className="notice notice-warn" role="status">
            <strong>Copy this token now: it is shown only once.</strong>
            <p>
              It lets one device join your home until {formatDateTime(issued.expires_at)}. Anyone holding it can enrol a device, so
              keep it private.
            </p>
          </div>
          <label htmlFor="issued-token">Enrolment token</label>
          <textarea id="issued-token" readOnly value={issued.token} rows={4} onFocus={(e) => e.currentTarget.select()} />
          <div className="row-actions">
            <button type="button" className="button secondary" onClick={copy}>
              {copied ? "Copied" : "Copy token"}
            </button>
            <button type="button" className="button secondary" onClick={() => setIssued(null)}>
              Done, hide it
            </button>
          </div>
          <ImageDownload issued={issued} relay={relay} />
          <details className="running-device">
            <summary>Or enrol a device that is already running</summary>
            <p>
              Scan or copy the token onto it as <code>token.txt</code> and run
            </p>
            <pre>
              <code>{`guardian-edge enrol --relay ${relay} --token-file token.txt`}</code>
            </pre>
            <TokenQr token={issued.token} />
          </details>
          <p className="muted small" role="status" data-testid="waiting">
            Waiting for the device: it appears in the list above once it reports in.
          </p>
        </div>
      )}
      <ErrorNotice error={error} title="No token was created" />
    </section>
  );
}

/** Once the issued token is no longer pending: the device enrolled (token, QR and image are gone), or it lapsed. */
function TokenDone({ state, onAnother }: { state: "used" | "revoked" | "expired"; onAnother: () => void }) {
  return (
    <div className={state === "used" ? "notice" : "notice notice-warn"} role="status" data-testid="token-done">
      {state === "used" ? (
        <>
          <strong>Your device has enrolled.</strong>
          <p>It is online: it shows in the list above with its health. Its token is used up, so the token, its QR code and
            the image are gone from here.</p>
        </>
      ) : (
        <>
          <strong>This token was {state === "revoked" ? "revoked" : "left unused until it expired"}.</strong>
          <p>Create a new one to add a device.</p>
        </>
      )}
      <button type="button" className="button secondary" onClick={onAnother}>Add another device</button>
    </div>
  );
}
