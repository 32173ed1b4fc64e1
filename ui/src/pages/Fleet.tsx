import { useEffect, useState } from "react";
import type { FleetAlertPublic, FleetDevicePublic, FleetPublic } from "../api/types";
import { Badge, DeviceStatusBadge, EmptyState, ErrorNotice, Loading } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useNow } from "../hooks";
import { FLEET_FILTERS, alertCount, alertTone, filterDevices, relayStatus, shortId, type FleetFilter } from "../state/fleet";
import { formatDateTime, formatRelative } from "../state/format";
import "./Fleet.css";

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** How often the page reloads by itself: an operator leaves it open. */
export const FLEET_REFRESH_MS = 30_000;

function Alerts({ alerts }: { alerts: FleetAlertPublic[] }) {
  if (alerts.length === 0) return <span className="muted">None</span>;
  return (
    <ul className="fleet-alerts">
      {alerts.map((a) => (
        <li key={`${a.name}-${a.starts_at}`}>
          <Badge tone={alertTone(a)}>{a.name.replace(/^Guardian/, "")}</Badge>
          {a.summary && <small className="block">{a.summary}</small>}
          <small className="block muted" title={a.starts_at}>since {formatRelative(a.starts_at)}</small>
        </li>
      ))}
    </ul>
  );
}

function Id({ id }: { id: string | null }) {
  if (!id) return <span className="muted">—</span>;
  return <code className="fleet-id" title={id}>{shortId(id)}</code>;
}

function AlertsState({ fleet }: { fleet: FleetPublic }) {
  if (fleet.alerts_error) {
    return (
      <div className="notice notice-warn" role="status" data-testid="alerts-error">
        <strong>Alerts unavailable</strong>
        <p>{fleet.alerts_error}. Health and versions below come from the cloud and are current.</p>
      </div>
    );
  }
  if (!fleet.alertmanager_configured) {
    return <p className="muted small" data-testid="alerts-off">No Alertmanager is configured (the cloud's <code>alertmanager.url</code>): no alerts shown.</p>;
  }
  return null;
}

function Cameras({ device }: { device: FleetDevicePublic }) {
  if (device.cameras_total === 0) return <span className="muted">None</span>;
  return (
    <span className="fleet-cameras">
      <Badge tone={device.cameras_up > 0 ? "ok" : "muted"}>{device.cameras_up} up</Badge>{" "}
      {device.cameras_down > 0 && <Badge tone="bad">{device.cameras_down} down</Badge>}{" "}
      <small className="muted">of {device.cameras_total}</small>
    </span>
  );
}

function Config({ device }: { device: FleetDevicePublic }) {
  const { desired_config_version: desired, applied_config_version: applied } = device;
  if (!desired) return <span className="muted">None saved</span>;
  return applied >= desired
    ? <Badge tone="ok">v{applied} applied</Badge>
    : <Badge tone="warn">{applied ? `v${applied} of ${desired}` : `v${desired} pending`}</Badge>;
}

export function FleetPage() {
  useDocumentTitle("Fleet");
  const { api } = useServices();
  const now = useNow();
  const fleet = useAsync(() => api.fleet.get(), [api]);
  const [filter, setFilter] = useState<FleetFilter>("all");
  const reload = fleet.reload;
  useEffect(() => {
    const timer = window.setInterval(reload, FLEET_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);

  const data = fleet.data;
  const relayNames = new Map((data?.relays ?? []).map((r) => [r.id, r.name]));
  const devices = data ? filterDevices(data.devices, filter) : [];

  return (
    <section className="page fleet">
      <div className="page-head">
        <h1>Fleet</h1>
        <button type="button" className="button secondary small" onClick={fleet.reload} disabled={fleet.loading}>
          {fleet.loading ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <ErrorNotice error={fleet.error} onRetry={fleet.reload} title="The fleet could not be loaded" />
      {fleet.loading && !data && <Loading />}
      {data && (
        <>
          <p className="muted small" data-testid="fleet-summary">
            {plural(data.relays.length, "relay")} · {plural(data.devices.length, "device")} ·{" "}
            {plural(alertCount(data), "firing alert")} · updated{" "}
            <span title={formatDateTime(data.generated_at)}>{formatRelative(data.generated_at, now)}</span>
          </p>
          <AlertsState fleet={data} />
          {data.other_alerts.length > 0 && (
            <section className="card" aria-labelledby="other-alerts">
              <h2 id="other-alerts">Other alerts</h2>
              <Alerts alerts={data.other_alerts} />
            </section>
          )}

          <h2 id="relays-heading">Relays</h2>
          {data.relays.length === 0 ? (
            <EmptyState title="No relays registered" />
          ) : (
            <div className="table-wrap card">
              <table className="table fleet-table" aria-labelledby="relays-heading" data-testid="relays">
                <thead>
                  <tr>
                    <th scope="col">Relay</th>
                    <th scope="col">Status</th>
                    <th scope="col">Last call</th>
                    <th scope="col">Version</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Devices</th>
                    <th scope="col">Alerts</th>
                  </tr>
                </thead>
                <tbody>
                  {data.relays.map((r) => {
                    const status = relayStatus(r.status);
                    return (
                      <tr key={r.id}>
                        <td className="fleet-name">
                          <strong>{r.name}</strong>
                          <small className="block muted fleet-url">{r.endpoint_url}</small>
                        </td>
                        <td data-label="Status"><Badge tone={status.tone}>{status.label}</Badge></td>
                        <td data-label="Last call">{formatRelative(r.last_seen_at, now)}</td>
                        <td data-label="Version">{r.agent_version || <span className="muted">—</span>}</td>
                        <td data-label="Tenant">{r.tenant_id ? <Id id={r.tenant_id} /> : <span className="muted">In the pool</span>}</td>
                        <td data-label="Devices">{r.devices}</td>
                        <td data-label="Alerts"><Alerts alerts={r.alerts} /></td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}

          <div className="fleet-devices-head">
            <h2 id="devices-heading">Devices</h2>
            <label className="fleet-filter">
              <span>Show</span>
              <select value={filter} onChange={(e) => setFilter(e.target.value as FleetFilter)} data-testid="device-filter">
                {FLEET_FILTERS.map((f) => <option key={f.value} value={f.value}>{f.label}</option>)}
              </select>
            </label>
          </div>
          {devices.length === 0 ? (
            <EmptyState title={data.devices.length === 0 ? "No devices enrolled" : "No device matches"} />
          ) : (
            <div className="table-wrap card">
              <table className="table fleet-table" aria-labelledby="devices-heading" data-testid="devices">
                <thead>
                  <tr>
                    <th scope="col">Device</th>
                    <th scope="col">Health</th>
                    <th scope="col">Last report</th>
                    <th scope="col">Version</th>
                    <th scope="col">Config</th>
                    <th scope="col">Cameras</th>
                    <th scope="col">Relay</th>
                    <th scope="col">Alerts</th>
                  </tr>
                </thead>
                <tbody>
                  {devices.map((d) => (
                    <tr key={d.id} data-device={d.id}>
                      <td className="fleet-name">
                        <strong>{d.id}</strong>
                        <small className="block muted">tenant <Id id={d.tenant_id} /></small>
                      </td>
                      <td data-label="Health"><DeviceStatusBadge status={d.status} /></td>
                      <td data-label="Last report">{formatRelative(d.last_seen_at, now)}</td>
                      <td data-label="Version">{d.agent_version || <span className="muted">—</span>}</td>
                      <td data-label="Config"><Config device={d} /></td>
                      <td data-label="Cameras"><Cameras device={d} /></td>
                      <td data-label="Relay">{d.relay_id ? relayNames.get(d.relay_id) ?? <Id id={d.relay_id} /> : <span className="muted">—</span>}</td>
                      <td data-label="Alerts"><Alerts alerts={d.alerts} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
