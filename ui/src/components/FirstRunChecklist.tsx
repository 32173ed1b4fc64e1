import { Link } from "react-router";
import { useServices } from "../context";
import { useAsync } from "../hooks";
import "./FirstRunChecklist.css";

export interface ChecklistStep {
  id: "device" | "camera" | "event";
  title: string;
  done: boolean;
  /** Where to go to do it (none for the last step: it only needs waiting). */
  to?: string;
  action?: string;
  body: string;
}

/** The steps from an empty home to its first event, each done or not. */
export function checklistSteps(state: { devices: number; cameras: number; hasEvents: boolean }): ChecklistStep[] {
  return [
    {
      id: "device", title: "Add your device", done: state.devices > 0, to: "/devices", action: "Add a device",
      body: "The small computer at home that watches your cameras: connect it, then enter its code here.",
    },
    {
      id: "camera", title: "Add a camera", done: state.cameras > 0, to: "/cameras", action: "Add a camera",
      body: "Your device finds the cameras on your network; choose one and give it a name.",
    },
    {
      id: "event", title: "Your first event", done: state.hasEvents,
      body: "When a camera sees a person, vehicle or animal, an event appears on the Events page within a " +
        "second, with a snapshot and a short clip. Nothing else needs setting up.",
    },
  ];
}

/** The first-run checklist: shown until the home has a device, a camera and an event. */
export function FirstRunChecklist({ devices, cameras }: { devices: number; cameras: number }) {
  const { api } = useServices();
  const events = useAsync(() => api.events.list({}, null, 1), [api]);
  if (events.loading && !events.data) return null;
  const steps = checklistSteps({ devices, cameras, hasEvents: (events.data?.items.length ?? 0) > 0 });
  if (steps.every((s) => s.done)) return null;
  const current = steps.find((s) => !s.done)!;
  return (
    <section className="card checklist" aria-labelledby="checklist-heading" data-testid="first-run-checklist">
      <h2 id="checklist-heading">Getting started</h2>
      <ol>
        {steps.map((step) => (
          <li key={step.id} className={step.done ? "done" : step === current ? "current" : undefined}
              aria-current={step === current ? "step" : undefined}>
            <span className="check" aria-hidden="true">{step.done ? "✓" : ""}</span>
            <span>
              <strong>{step.title}</strong>
              {step.done ? <span className="visually-hidden"> (done)</span> : <p className="muted">{step.body}</p>}
              {!step.done && step === current && step.to && (
                <Link className="button" to={step.to}>{step.action}</Link>
              )}
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}
