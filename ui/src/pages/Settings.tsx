import { useState, type FormEvent } from "react";
import type { PlanPublic } from "../api/types";
import { ErrorNotice, Loading } from "../components/Feedback";
import { Field } from "../components/Field";
import { HouseholdMembers } from "../components/HouseholdMembers";
import { NotificationSettings } from "../components/NotificationSettings";
import { useServices } from "../context";
import { useAsync, useDocumentTitle } from "../hooks";
import { formatBytes, formatLabel } from "../state/format";
import { isAdmin } from "../state/session";
import { useStore } from "../state/store";

export function SettingsPage() {
  useDocumentTitle("Settings");
  const { api, session } = useServices();
  const state = useStore(session);
  const plan = useAsync(() => api.tenant.plan(), [api]);

  return (
    <section className="page">
      <h1>Settings</h1>
      <section className="card" aria-labelledby="plan-heading">
        <h2 id="plan-heading">Plan and usage</h2>
        <ErrorNotice error={plan.error} onRetry={plan.reload} title="The plan could not be loaded" />
        {plan.loading && !plan.data && <Loading />}
        {plan.data && <PlanUsage plan={plan.data} />}
      </section>
      {state.status === "signed-in" && (
        <>
          <HomeName />
          <HouseholdMembers admin={isAdmin(state)} me={state.user.id} />
          <NotificationSettings />
          <section className="card" aria-labelledby="account-heading">
            <h2 id="account-heading">Your account</h2>
            <dl className="facts">
              <div>
                <dt>E-mail</dt>
                <dd>{state.user.email}</dd>
              </div>
              <div>
                <dt>Role</dt>
                <dd>{state.user.role === "admin" ? "Administrator" : "Viewer"}</dd>
              </div>
            </dl>
            <ChangePassword />
          </section>
        </>
      )}
    </section>
  );
}

function Meter({ id, label, used, max, format }: { id: string; label: string; used: number; max: number; format: (n: number) => string }) {
  const ratio = max > 0 ? used / max : 0;
  return (
    <div className="meter">
      <div className="meter-head">
        <span id={id}>{label}</span>
        <span>
          {format(used)} of {format(max)}
        </span>
      </div>
      <progress aria-labelledby={id} value={Math.min(used, max)} max={max} className={ratio >= 0.9 ? "high" : undefined} />
    </div>
  );
}

function PlanUsage({ plan }: { plan: PlanPublic }) {
  return (
    <>
      <p>
        You are on the <strong>{formatLabel(plan.name)}</strong> plan. Events are kept for {plan.retention_days} days.
      </p>
      <Meter id="m-cameras" label="Cameras" used={plan.cameras_used} max={plan.max_cameras} format={(n) => String(n)} />
      <Meter id="m-archive" label="Archive storage" used={plan.archive_bytes_used} max={plan.max_archive_bytes} format={(n) => formatBytes(n)} />
      {plan.cameras_used >= plan.max_cameras && (
        <p className="notice notice-warn">Your plan's camera limit is reached: events from further cameras are not accepted.</p>
      )}
    </>
  );
}

function HomeName() {
  const { api, session } = useServices();
  const state = useStore(session);
  const tenant = state.status === "signed-in" ? state.tenant : null;
  const [name, setName] = useState(tenant?.name ?? "");
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  if (!tenant) return null;
  const admin = isAdmin(state);

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setSaved(false);
    try {
      session.setTenant(await api.tenant.rename(name.trim()));
      setSaved(true);
    } catch (reason) {
      setError(reason);
    }
  }

  return (
    <section className="card" aria-labelledby="home-heading">
      <h2 id="home-heading">Your home</h2>
      <form className="inline-form" onSubmit={save}>
        <Field label="Name" value={name} required maxLength={100} disabled={!admin} onChange={(e) => setName(e.target.value)}
               hint={admin ? undefined : "Only administrators can rename the home."} />
        {admin && (
          <button type="submit" className="button" disabled={!name.trim() || name.trim() === tenant.name}>
            Save
          </button>
        )}
      </form>
      {saved && <p role="status" className="muted">Saved.</p>}
      <ErrorNotice error={error} title="Could not rename" />
    </section>
  );
}

function ChangePassword() {
  const { api } = useServices();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setDone(false);
    try {
      await api.users.changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone(true);
    } catch (reason) {
      setError(reason);
    }
  }

  return (
    <form onSubmit={submit} aria-labelledby="password-heading">
      <h3 id="password-heading">Change password</h3>
      <Field label="Current password" type="password" autoComplete="current-password" required value={current}
             onChange={(e) => setCurrent(e.target.value)} />
      <Field label="New password" type="password" autoComplete="new-password" required minLength={12} value={next}
             onChange={(e) => setNext(e.target.value)} hint="At least 12 characters and not easy to guess (a few uncommon words work well). Other sessions of this account will be signed out." />
      <button type="submit" className="button">Change password</button>
      {done && <p role="status">Password changed. Other sessions were signed out.</p>}
      <ErrorNotice error={error} title="The password was not changed" />
    </form>
  );
}
