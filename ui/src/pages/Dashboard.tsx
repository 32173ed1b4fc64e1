import { useState } from "react";
import { Link } from "react-router";
import { cameraTitle } from "../api/cameras";
import { CameraPicture } from "../components/CameraPicture";
import { LiveView } from "../components/LiveView";
import { CameraStateBadge, DeviceStatusBadge, EmptyState, ErrorNotice, Loading } from "../components/Feedback";
import { FirstRunChecklist } from "../components/FirstRunChecklist";
import { HourlyChart } from "../components/HourlyChart";
import { useServices } from "../context";
import { useAsync, useDocumentTitle, useNow } from "../hooks";
import { loadDashboard } from "../state/dashboard";
import { formatRelative } from "../state/format";

/** The dashboard shows the first few cameras' pictures; the Cameras page has them all. */
const STRIP_CAMERAS = 4;

export function DashboardPage() {
  useDocumentTitle("Dashboard");
  const { api } = useServices();
  const now = useNow(60_000);
  const { data, error, loading, reload } = useAsync(() => loadDashboard(api), [api]);
  // The dashboard opens on every camera live; a member can switch back to the pictures.
  const [liveGrid, setLiveGrid] = useState(true);

  return (
    <section className="page">
      <div className="page-head">
        <h1>Dashboard</h1>
        <button type="button" className="button secondary" onClick={reload} disabled={loading}>
          Refresh
        </button>
      </div>
      <ErrorNotice error={error} onRetry={reload} title="The dashboard could not be loaded" />
      {loading && !data && <Loading />}
      {data && (
        <>
          <FirstRunChecklist devices={data.devices.length} cameras={data.cameras.length} />
          <div className="stats">
            <Link className="stat" to="/cameras">
              <span className="stat-value">{data.camerasOnline}</span>
              <span className="stat-label">cameras online</span>
            </Link>
            <Link className="stat" to="/cameras">
              <span className={`stat-value${data.cameras.length - data.camerasOnline ? " bad" : ""}`}>
                {data.cameras.length - data.camerasOnline}
              </span>
              <span className="stat-label">cameras offline</span>
            </Link>
            <Link className="stat" to="/events">
              <span className="stat-value">{data.eventsToday}</span>
              <span className="stat-label">events today</span>
            </Link>
            <Link className="stat" to="/devices">
              <span className="stat-value">{data.devices.filter((d) => d.status === "healthy").length}/{data.devices.length}</span>
              <span className="stat-label">devices healthy</span>
            </Link>
          </div>

          {data.cameras.length > 0 && (
            <section className="card" aria-labelledby="live-heading">
              <div className="page-head">
                <h2 id="live-heading">{liveGrid ? "Live" : "Camera pictures"}</h2>
                <button type="button" className="button secondary" onClick={() => setLiveGrid((on) => !on)} aria-pressed={liveGrid}>
                  {liveGrid ? "Show pictures" : "Watch all live"}
                </button>
              </div>
              {liveGrid ? (
                // Every camera live; those scrolled off screen are stopped by the view itself.
                <ul className="live-grid">
                  {data.cameras.map((c) => (
                    <li key={c.id}>
                      <Link to="/cameras">{cameraTitle(c)}</Link>
                      <LiveView deviceId={c.device_id} camera={c.name} title={cameraTitle(c)} />
                    </li>
                  ))}
                </ul>
              ) : (
                <ul className="picture-strip">
                  {data.cameras.slice(0, STRIP_CAMERAS).map((c) => (
                    <li key={c.id}>
                      <Link to="/cameras">{cameraTitle(c)}</Link>
                      <CameraPicture deviceId={c.device_id} camera={c.name} title={cameraTitle(c)}
                                     online={c.state === "streaming" ? true : c.state === "failed" ? false : undefined} />
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}

          <section className="card" aria-labelledby="chart-heading">
            <h2 id="chart-heading">Events per hour, last 24 hours</h2>
            <HourlyChart series={data.series} />
          </section>

          <div className="columns">
            <section className="card" aria-labelledby="devices-heading">
              <h2 id="devices-heading">Device health</h2>
              {data.devices.length === 0 ? (
                <EmptyState title="No devices yet">
                  <p>
                    <Link to="/devices">Add your first device</Link> to start watching your cameras.
                  </p>
                </EmptyState>
              ) : (
                <ul className="plain-list">
                  {data.devices.map((d) => (
                    <li key={d.id}>
                      <span>
                        <strong>{d.name || d.id}</strong>
                        <small className="muted"> last report {formatRelative(d.last_seen_at, now)}</small>
                        {d.reason && <small className="block muted">{d.reason}</small>}
                      </span>
                      <DeviceStatusBadge status={d.status} />
                    </li>
                  ))}
                </ul>
              )}
            </section>
            <section className="card" aria-labelledby="cameras-heading">
              <h2 id="cameras-heading">Cameras</h2>
              {data.cameras.length === 0 ? (
                <EmptyState title="No cameras yet">
                  <p>Cameras appear here once a device reports them.</p>
                </EmptyState>
              ) : (
                <ul className="plain-list">
                  {data.cameras.map((c) => (
                    <li key={c.id}>
                      <Link to={`/events?camera=${encodeURIComponent(c.name)}`}>{cameraTitle(c)}</Link>
                      <CameraStateBadge state={c.state} />
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </div>
        </>
      )}
    </section>
  );
}
