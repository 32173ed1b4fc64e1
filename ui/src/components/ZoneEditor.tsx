// Draw a camera's zones and masks on its latest picture: click (or tap) to add points, click the first point
// (or "Close shape", or Enter) to finish, drag points to move them, Delete removes the selected point,
// Escape cancels. Shapes are kept normalised (zoneGeometry.ts); without a picture a blank 16:9 frame is used.
import { useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { pictureMessage, useCameraPicture } from "./CameraPicture";
import {
  closePolygon,
  closesShape,
  hitPoint,
  MAX_POINTS,
  MIN_POINTS,
  movePoint,
  nextName,
  normalise,
  removePoint,
  svgPoints,
  type AreaKind,
  type Point,
  type PointHit,
  type Polygon,
} from "./zoneGeometry";
import "./ZoneEditor.css";

export interface Areas {
  zones: Polygon[];
  masks: Polygon[];
}

export interface ZoneEditorProps extends Areas {
  onChange: (areas: Areas) => void;
  /** The saved camera whose picture to draw on; null (a camera not saved yet): the blank frame. */
  picture: { deviceId: string; camera: string } | null;
  problem?: string | undefined;
}

const WORDS: Record<AreaKind, string> = { zone: "Zone", mask: "Mask" };
const KEY_STEP = 0.01;

export function ZoneEditor({ zones, masks, onChange, picture, problem }: ZoneEditorProps) {
  const surface = useRef<HTMLDivElement | null>(null);
  const [kind, setKind] = useState<AreaKind>("zone");
  const [drawing, setDrawing] = useState<Point[]>([]);
  const [selected, setSelected] = useState<PointHit | null>(null);
  const [dragging, setDragging] = useState<number | null>(null);
  const [aspect, setAspect] = useState(16 / 9);
  const [note, setNote] = useState("");
  const shot = useCameraPicture(picture?.deviceId ?? "", picture?.camera ?? "", picture !== null);
  const areas: Record<AreaKind, Polygon[]> = { zone: zones, mask: masks };
  const hasPicture = shot.status === "ok" && !!shot.src;

  function emit(next: Record<AreaKind, Polygon[]>) {
    onChange({ zones: next.zone, masks: next.mask });
  }

  function replace(which: AreaKind, index: number, polygon: Polygon | null) {
    const list = areas[which].flatMap((p, i) => (i !== index ? [p] : polygon ? [polygon] : []));
    emit({ ...areas, [which]: list });
  }

  function box() {
    return surface.current!.getBoundingClientRect();
  }

  function finish() {
    const taken = [...zones, ...masks].map((p) => p.name);
    const polygon = closePolygon(drawing, nextName(kind, taken));
    if (!polygon) return;
    emit({ ...areas, [kind]: [...areas[kind], polygon] });
    setDrawing([]);
    setNote(`${WORDS[kind]} “${polygon.name}” added; rename it below.`);
  }

  function cancel() {
    setDrawing([]);
    setSelected(null);
    setNote("");
  }

  function onPointerDown(event: PointerEvent<HTMLDivElement>) {
    if (event.button !== 0) return;
    event.preventDefault();
    surface.current?.focus({ preventScroll: true });
    const rect = box();
    const at = normalise(event.clientX, event.clientY, rect);
    if (closesShape(drawing, at, rect)) {
      finish();
      return;
    }
    const hit = drawing.length === 0 ? hitPoint(areas, at, rect) : null;
    if (hit) {
      setSelected(hit);
      setDragging(event.pointerId);
      surface.current?.setPointerCapture?.(event.pointerId);
      return;
    }
    setSelected(null);
    if (drawing.length >= MAX_POINTS) {
      setNote(`A shape has at most ${MAX_POINTS} points: close it.`);
      return;
    }
    setDrawing([...drawing, at]);
  }

  function onPointerMove(event: PointerEvent<HTMLDivElement>) {
    if (dragging !== event.pointerId || !selected) return;
    const polygon = areas[selected.kind][selected.polygon];
    if (polygon) replace(selected.kind, selected.polygon, movePoint(polygon, selected.point, normalise(event.clientX, event.clientY, box())));
  }

  function onPointerUp(event: PointerEvent<HTMLDivElement>) {
    if (dragging === event.pointerId) setDragging(null);
  }

  function removeSelected() {
    if (!selected) return;
    const polygon = areas[selected.kind][selected.polygon];
    if (!polygon) return;
    const next = removePoint(polygon, selected.point);
    if (!next) {
      setNote(`A shape needs at least ${MIN_POINTS} points: delete the whole ${selected.kind} below instead.`);
      return;
    }
    replace(selected.kind, selected.polygon, next);
    setSelected(null);
  }

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === "Escape") {
      if (drawing.length || selected) {
        event.preventDefault();
        event.stopPropagation();
        cancel();
      }
    } else if (event.key === "Enter" && drawing.length) {
      event.preventDefault();
      finish();
    } else if ((event.key === "Delete" || event.key === "Backspace") && selected) {
      event.preventDefault();
      removeSelected();
    } else if (selected && event.key.startsWith("Arrow")) {
      const polygon = areas[selected.kind][selected.polygon];
      const point = polygon?.points[selected.point];
      if (!polygon || !point) return;
      event.preventDefault();
      const step = event.shiftKey ? KEY_STEP / 10 : KEY_STEP;
      const dx = event.key === "ArrowLeft" ? -step : event.key === "ArrowRight" ? step : 0;
      const dy = event.key === "ArrowUp" ? -step : event.key === "ArrowDown" ? step : 0;
      replace(selected.kind, selected.polygon, movePoint(polygon, selected.point, { x: point.x + dx, y: point.y + dy }));
    }
  }

  function rename(which: AreaKind, index: number, name: string) {
    const polygon = areas[which][index];
    if (polygon) replace(which, index, { ...polygon, name });
  }

  function removeArea(which: AreaKind, index: number) {
    setSelected(null);
    replace(which, index, null);
  }

  const isSelected = (which: AreaKind, p: number, i: number) =>
    selected?.kind === which && selected.polygon === p && selected.point === i;

  return (
    <div className="zone-editor">
      <div className="zone-toolbar" role="group" aria-label="New shape">
        {(["zone", "mask"] as const).map((k) => (
          <label key={k} className={`check zone-kind zone-kind-${k}`}>
            <input type="radio" name="zone-kind" checked={kind === k} disabled={drawing.length > 0} onChange={() => setKind(k)} />
            {k === "zone" ? "Draw a zone (named area)" : "Draw a mask (ignored area)"}
          </label>
        ))}
      </div>
      {!hasPicture && (
        <p className="small muted" data-testid="zone-blank">
          {picture ? `${pictureMessage(shot.status === "ok" ? "error" : shot.status, undefined)}: ` : "No picture before the camera is saved: "}
          drawing on a blank 16:9 frame. Shapes are kept as fractions of the picture, so they fit once it arrives.
        </p>
      )}
      <div ref={surface} className={`zone-surface${hasPicture ? "" : " blank"}`} style={{ aspectRatio: String(hasPicture ? aspect : 16 / 9) }}
           tabIndex={0} role="application" aria-label="Zone and mask drawing area. Click to add points; Enter closes the shape, Escape cancels, Delete removes the selected point, arrow keys move it."
           data-testid="zone-surface" onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerUp}
           onPointerCancel={onPointerUp} onKeyDown={onKeyDown}>
        {hasPicture && <img src={shot.src!} alt="" draggable={false} onLoad={(e) => {
          const img = e.currentTarget;
          if (img.naturalWidth && img.naturalHeight) setAspect(img.naturalWidth / img.naturalHeight);
        }} />}
        <svg viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">
          {(["mask", "zone"] as const).map((which) => areas[which].map((polygon, p) => (
            <polygon key={`${which}-${p}`} className={`area area-${which}${selected?.kind === which && selected.polygon === p ? " selected" : ""}`}
                     points={svgPoints(polygon.points)} vectorEffect="non-scaling-stroke" />
          )))}
          {drawing.length > 0 && (
            <polyline className={`drawing area-${kind}`} points={svgPoints(drawing)} vectorEffect="non-scaling-stroke" />
          )}
        </svg>
        {(["mask", "zone"] as const).map((which) => areas[which].map((polygon, p) => (
          <span key={`${which}-${p}`} className="area-label" style={{ left: `${polygon.points[0]!.x * 100}%`, top: `${polygon.points[0]!.y * 100}%` }}>
            {polygon.name}
          </span>
        )))}
        {(["mask", "zone"] as const).map((which) => areas[which].map((polygon, p) => polygon.points.map((point, i) => (
          <button key={`${which}-${p}-${i}`} type="button" tabIndex={0}
                  className={`handle handle-${which}${isSelected(which, p, i) ? " selected" : ""}`}
                  style={{ left: `${point.x * 100}%`, top: `${point.y * 100}%` }}
                  aria-label={`Point ${i + 1} of ${which} ${polygon.name}`} aria-pressed={isSelected(which, p, i)}
                  onFocus={() => setSelected({ kind: which, polygon: p, point: i })} />
        ))))}
        {drawing.map((point, i) => (
          <span key={`d-${i}`} className={`handle drawing-handle handle-${kind}${i === 0 && drawing.length >= MIN_POINTS ? " closable" : ""}`}
                style={{ left: `${point.x * 100}%`, top: `${point.y * 100}%` }} />
        ))}
      </div>
      <div className="row-actions zone-actions">
        <button type="button" className="button small" onClick={finish} disabled={drawing.length < MIN_POINTS}>
          Close shape
        </button>
        <button type="button" className="button secondary small" onClick={cancel} disabled={drawing.length === 0}>
          Cancel shape
        </button>
        <button type="button" className="button secondary small" onClick={removeSelected} disabled={!selected}>
          Delete point
        </button>
        <span className="small muted" role="status">
          {drawing.length > 0
            ? `${drawing.length} point${drawing.length === 1 ? "" : "s"}; ${drawing.length < MIN_POINTS ? `at least ${MIN_POINTS} needed` : "click the first point to close"}`
            : note}
        </span>
      </div>
      {zones.length + masks.length > 0 && (
        <ul className="area-list">
          {(["zone", "mask"] as const).map((which) => areas[which].map((polygon, p) => (
            <li key={`${which}-${p}`} className={`area-item area-item-${which}`}>
              <span className="swatch" aria-hidden="true" />
              <label>
                <span aria-hidden="true">{WORDS[which]}</span>
                <input value={polygon.name} maxLength={32} spellCheck={false} aria-label={`Name of ${which} ${p + 1}`}
                       onChange={(e) => rename(which, p, e.target.value)} />
              </label>
              <span className="small muted">{polygon.points.length} points</span>
              <button type="button" className="button danger small" aria-label={`Delete ${which} ${polygon.name}`}
                      onClick={() => removeArea(which, p)}>
                Delete
              </button>
            </li>
          )))}
        </ul>
      )}
      {problem && <small className="field-problem">{problem}</small>}
    </div>
  );
}
