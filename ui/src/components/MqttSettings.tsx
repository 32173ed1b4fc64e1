// Home Assistant on the LAN (issue #20): the device's MQTT broker, saved in its desired config. The
// password is sealed here to the device's config key (as camera logins are); the cloud never sees it.
import { useId, useState, type FormEvent } from "react";
import type { DeviceConfig, MqttConfig } from "../api/deviceConfig";
import { sealSecret } from "../crypto/seal";
import { useServices } from "../context";
import { useAsync } from "../hooks";
import { describeSaveError } from "./CameraForm";
import { ErrorNotice, Loading } from "./Feedback";
import { Field } from "./Field";

const EMPTY: MqttConfig = { enabled: false, host: "", port: 0, username: "", password: null, topic_prefix: "",
  discovery: true, tls: false, ca_pem: "" };

export function MqttSettings({ deviceId }: { deviceId: string }) {
  const { api } = useServices();
  const config = useAsync(() => api.deviceConfig.get(deviceId), [api, deviceId]);
  if (config.error) return <ErrorNotice error={config.error} onRetry={config.reload} title="Settings could not be loaded" />;
  if (!config.data) return <Loading />;
  return <MqttForm config={config.data} onSaved={(next) => config.setData(() => next)} />;
}

/** What the device last said of its connection to the broker (it reports a change within seconds). */
function MqttStatusNote({ config }: { config: DeviceConfig }) {
  const status = config.reported.mqtt;
  if (!status) return null;
  if (status.state === "failing") {
    return (
      <div className="notice notice-error" data-testid="mqtt-status">
        <strong>The device cannot connect to the broker</strong>
        <p>{status.error || "No reason given."}</p>
      </div>
    );
  }
  return (
    <p className="small muted" data-testid="mqtt-status">
      {status.state === "connected" ? "The device is connected to the broker." : "The device is not publishing to a broker."}
    </p>
  );
}

function MqttForm({ config, onSaved }: { config: DeviceConfig; onSaved: (config: DeviceConfig) => void }) {
  const { api } = useServices();
  const saved = config.mqtt ?? EMPTY;
  const [draft, setDraft] = useState<MqttConfig>(saved);
  const [password, setPassword] = useState(""); // empty: keep the sealed one already saved
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const caId = useId();
  const set = (change: Partial<MqttConfig>) => { setDraft({ ...draft, ...change }); setDone(false); };

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let sealed = password ? null : saved.password ?? null;
      if (password) {
        if (!config.config_key) throw new Error("The device has not sent its key yet; save without a password for now.");
        sealed = await sealSecret(password, config.config_key);
      }
      // The CA only counts with TLS (the cloud refuses one without it): unticking TLS drops it.
      const next = await api.deviceConfig.save(config.device_id, config.version, config.cameras,
                                               { ...draft, password: sealed, ca_pem: draft.tls ? draft.ca_pem.trim() : "" });
      setPassword("");
      setDone(true);
      onSaved(next);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="mqtt-form" onSubmit={save} aria-label="Home Assistant (MQTT)">
      <p className="muted">
        The device publishes events, who is in view and the latest snapshot to your MQTT broker at home, with Home
        Assistant discovery. It connects on your network: nothing of it goes through the cloud.
      </p>
      <MqttStatusNote config={config} />
      <label className="check">
        <input type="checkbox" checked={draft.enabled} onChange={(e) => set({ enabled: e.target.checked })} />
        Publish to an MQTT broker
      </label>
      <Field label="Broker address" value={draft.host} required={draft.enabled} maxLength={253}
             placeholder="192.168.1.20 or homeassistant.local" onChange={(e) => set({ host: e.target.value })} />
      <Field label="Port" type="number" min={0} max={65535} value={draft.port || ""} placeholder="1883"
             onChange={(e) => set({ port: Number(e.target.value) || 0 })} />
      <Field label="User name" value={draft.username} maxLength={128} autoComplete="off"
             onChange={(e) => set({ username: e.target.value })} />
      <Field label="Password" type="password" value={password} autoComplete="new-password"
             hint={saved.password ? "Saved (sealed for the device). Type a new one to replace it." : "Sealed for the device before it is sent."}
             onChange={(e) => { setPassword(e.target.value); setDone(false); }} />
      <Field label="Topic prefix" value={draft.topic_prefix} maxLength={64} placeholder="guardian"
             pattern="[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*" onChange={(e) => set({ topic_prefix: e.target.value })} />
      <label className="check">
        <input type="checkbox" checked={draft.discovery} onChange={(e) => set({ discovery: e.target.checked })} />
        Home Assistant discovery
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.tls} onChange={(e) => set({ tls: e.target.checked })} />
        TLS (the broker's certificate and name are checked)
      </label>
      {draft.tls && (
        <div className="field">
          <label htmlFor={caId}>Broker's CA certificate (PEM)</label>
          <textarea id={caId} rows={4} maxLength={16384} value={draft.ca_pem} spellCheck={false} aria-describedby={`${caId}-hint`}
                    placeholder="-----BEGIN CERTIFICATE-----" onChange={(e) => set({ ca_pem: e.target.value })} />
          <small id={`${caId}-hint`} className="hint">
            The certificate of the CA that signed your broker's (or the broker's own, if self-signed). Empty: the
            device's built-in public CAs. The certificate only, never its key.
          </small>
        </div>
      )}
      <ErrorNotice error={error ? new Error(describeSaveError(error)) : null} title="Not saved" />
      <div className="row-actions">
        <button type="submit" className="button" disabled={busy}>Save</button>
        {done && <span role="status">Saved as version {config.version}; the device applies it shortly.</span>}
      </div>
    </form>
  );
}
