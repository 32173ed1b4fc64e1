import { useEffect, useState, type FormEvent } from "react";
import { cameraTitle } from "../api/cameras";
import { notificationsApi } from "../api/notifications";
import type { NotificationRules, PushSubscriptionPublic } from "../api/types";
import { useServices } from "../context";
import { useAsync } from "../hooks";
import { currentSubscription, pushSupported, subscribe } from "../push/push";
import { formatLabel } from "../state/format";
import { ErrorNotice, Loading } from "./Feedback";
import { Field } from "./Field";
import "./NotificationSettings.css";

// What the detectors name most; an empty choice means every label.
const LABELS = ["person", "car", "truck", "bus", "bicycle", "motorcycle", "dog", "cat"];

function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/**
 * Push notifications for the signed-in member: on or off for this browser (its service worker and push
 * subscription), and the member's rules (all events or alerts only, cameras, labels, zones, quiet hours),
 * which hold for all their browsers. The cloud notifies once per review item (a visit), not per event. A
 * notification says what, where and when; its picture loads when it is opened.
 */
export function NotificationSettings() {
  const { api } = useServices();
  const push = notificationsApi(api.client);
  const key = useAsync(() => push.vapidKey(), [api]);

  return (
    <section className="card" aria-labelledby="notifications-heading">
      <h2 id="notifications-heading">Notifications</h2>
      <ErrorNotice error={key.error} onRetry={key.reload} title="Notifications could not be loaded" />
      {key.loading && !key.data && <Loading />}
      {key.data && !key.data.enabled && <p className="muted">This Guardian cloud does not send notifications.</p>}
      {key.data?.enabled && key.data.public_key && (
        <>
          <ThisBrowser publicKey={key.data.public_key} />
          <Rules />
        </>
      )}
    </section>
  );
}

function ThisBrowser({ publicKey }: { publicKey: string }) {
  const { api } = useServices();
  const push = notificationsApi(api.client);
  const held = useAsync(() => push.subscriptions(), [api]);
  const [endpoint, setEndpoint] = useState<string | null | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    currentSubscription().then((s) => setEndpoint(s?.endpoint ?? null), () => setEndpoint(null));
  }, []);

  if (!pushSupported()) {
    return <p className="muted">This browser cannot receive notifications (on an iPhone or iPad, add Guardian to the Home Screen first).</p>;
  }
  const mine: PushSubscriptionPublic | undefined = held.data?.find((s) => s.endpoint === endpoint);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
      held.reload();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  const turnOn = () => run(async () => {
    const subscription = await subscribe(publicKey);
    await push.subscribe(subscription);
    setEndpoint(subscription.endpoint ?? null);
  });
  const turnOff = () => run(async () => {
    if (mine) await push.unsubscribe(mine.id);
    const subscription = await currentSubscription();
    await subscription?.unsubscribe();
    setEndpoint(null);
  });

  return (
    <div className="push-browser">
      <ErrorNotice error={held.error} onRetry={held.reload} title="Your browsers could not be loaded" />
      <p role="status">
        {mine ? "Notifications are on for this browser." : "Notifications are off for this browser."}
        {held.data && held.data.length > 0 && (
          <span className="muted"> {held.data.length === 1 ? "1 browser" : `${held.data.length} browsers`} of yours receive them.</span>
        )}
      </p>
      {mine ? (
        <button type="button" className="button secondary" disabled={busy} onClick={() => void turnOff()}>Turn off for this browser</button>
      ) : (
        <button type="button" className="button" disabled={busy || endpoint === undefined} onClick={() => void turnOn()}>Turn on for this browser</button>
      )}
      <ErrorNotice error={error} title="That did not work" />
    </div>
  );
}

function Rules() {
  const { api } = useServices();
  const push = notificationsApi(api.client);
  const saved = useAsync(() => push.rules(), [api]);
  const cameras = useAsync(() => api.cameras.list(), [api]);
  const [draft, setDraft] = useState<NotificationRules | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  useEffect(() => {
    if (saved.data) {
      const zone = saved.data.quiet_hours ? saved.data.time_zone : browserTimeZone();
      setDraft({ ...saved.data, time_zone: zone });
    }
  }, [saved.data]);

  if (saved.error) return <ErrorNotice error={saved.error} onRetry={saved.reload} title="Your rules could not be loaded" />;
  if (!draft) return <Loading />;
  const rules = draft;
  const update = (change: Partial<NotificationRules>) => {
    setDone(false);
    setDraft({ ...rules, ...change });
  };
  const toggle = (list: string[], value: string) => (list.includes(value) ? list.filter((v) => v !== value) : [...list, value]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setDone(false);
    try {
      setDraft(await push.saveRules(rules));
      setDone(true);
    } catch (reason) {
      setError(reason);
    }
  }

  return (
    <form className="push-rules" onSubmit={save} aria-labelledby="rules-heading">
      <h3 id="rules-heading">What to notify you of</h3>
      <label className="check">
        <input type="checkbox" checked={rules.enabled} onChange={(e) => update({ enabled: e.target.checked })} />
        Send me notifications
      </label>
      <fieldset disabled={!rules.enabled}>
        <legend>How important <span className="muted">(one notification per visit)</span></legend>
        <label className="check">
          <input type="radio" name="severity" value="all" checked={rules.severity !== "alert"}
                 onChange={() => update({ severity: "all" })} />
          Everything that matches
        </label>
        <label className="check">
          <input type="radio" name="severity" value="alert" checked={rules.severity === "alert"}
                 onChange={() => update({ severity: "alert" })} />
          Alerts only <span className="muted">(by default a person or vehicle in a camera's alert zones)</span>
        </label>
      </fieldset>
      <fieldset disabled={!rules.enabled}>
        <legend>Cameras <span className="muted">(none ticked: all)</span></legend>
        {cameras.data?.map((camera) => (
          <label key={camera.id} className="check">
            <input type="checkbox" checked={rules.cameras?.includes(camera.id) ?? false}
                   onChange={() => update({ cameras: toggle(rules.cameras ?? [], camera.id) })} />
            {cameraTitle(camera)}
          </label>
        ))}
        {cameras.data?.length === 0 && <p className="muted">No cameras yet.</p>}
      </fieldset>
      <fieldset disabled={!rules.enabled}>
        <legend>What was seen <span className="muted">(none ticked: anything)</span></legend>
        {LABELS.map((label) => (
          <label key={label} className="check">
            <input type="checkbox" checked={rules.labels?.includes(label) ?? false}
                   onChange={() => update({ labels: toggle(rules.labels ?? [], label) })} />
            {formatLabel(label)}
          </label>
        ))}
      </fieldset>
      <Field label="Only in these zones" value={(rules.zones ?? []).join(", ")} disabled={!rules.enabled}
             hint="Zone names from the cameras' settings, separated by commas; empty: anywhere."
             onChange={(e) => update({ zones: e.target.value.split(",").map((z) => z.trim()).filter(Boolean) })} />
      <fieldset disabled={!rules.enabled}>
        <legend>Quiet hours</legend>
        <label className="check">
          <input type="checkbox" checked={rules.quiet_hours != null}
                 onChange={(e) => update({ quiet_hours: e.target.checked ? { start: "22:00", end: "07:00" } : null })} />
          No notifications at night
        </label>
        {rules.quiet_hours && (
          <div className="quiet-hours">
            <Field label="From" type="time" required value={rules.quiet_hours.start}
                   onChange={(e) => update({ quiet_hours: { ...rules.quiet_hours!, start: e.target.value } })} />
            <Field label="Until" type="time" required value={rules.quiet_hours.end}
                   onChange={(e) => update({ quiet_hours: { ...rules.quiet_hours!, end: e.target.value } })} />
            <p className="muted">Times in {rules.time_zone}.</p>
          </div>
        )}
      </fieldset>
      <button type="submit" className="button">Save rules</button>
      {done && <p role="status" className="muted">Saved.</p>}
      <ErrorNotice error={error} title="The rules were not saved" />
    </form>
  );
}
