import { useEffect, useRef, useState } from "react";
import { niceMax, type HourlySeries } from "../state/chart";
import { formatHour, formatLabel } from "../state/format";

const COLOURS = ["#1f6f5c", "#d08c2b", "#3b6fb6", "#b5475b", "#6b5fb5", "#5b8a2e", "#8a8a8a"];

export function labelColour(labels: string[], label: string): string {
  return label === "other" ? "#9aa3a0" : COLOURS[labels.indexOf(label) % COLOURS.length]!;
}

/** Every how many hours an axis label fits, labels at least `minGap` px apart (a divisor of 24, so the
 * labelled hours stay the same through the day). */
export function labelStep(slotWidth: number, minGap = 44): number {
  return [1, 2, 3, 4, 6, 8, 12, 24].find((step) => step * slotWidth >= minGap) ?? 24;
}

/** The element's width in CSS pixels, following it as it changes (null before the first layout). */
function useWidth<T extends Element>(): [React.RefObject<T | null>, number | null] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState<number | null>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver((entries) => setWidth(Math.round(entries[0]!.contentRect.width)));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/**
 * Stacked bars per hour by label: an SVG drawn at the width it is shown at (so its labels keep their
 * size on a phone instead of shrinking with a fixed viewBox), with a table of the same numbers for
 * screen readers.
 */
export function HourlyChart({ series }: { series: HourlySeries }) {
  const [holder, measured] = useWidth<HTMLElement>();
  const width = Math.max(280, measured ?? 720);
  const height = width < 500 ? 180 : 220;
  const pad = { left: 32, right: 8, top: 10, bottom: 28 };
  const top = niceMax(series.max);
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const slotW = innerW / series.slots.length;
  const barW = Math.max(2, slotW * 0.7);
  const step = labelStep(slotW);
  const y = (value: number) => pad.top + innerH - (value / top) * innerH;
  const total = series.totals.reduce((a, b) => a + b, 0);
  return (
    <figure className="chart" ref={holder}>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title">
        <title id="chart-title">{`Events per hour over the last ${series.slots.length} hours: ${total} in all`}</title>
        {(top % 2 === 0 ? [0, top / 2, top] : [0, top]).map((tick) => (
          <g key={tick}>
            <line x1={pad.left} x2={width - pad.right} y1={y(tick)} y2={y(tick)} className="grid" />
            <text x={pad.left - 6} y={y(tick) + 4} textAnchor="end" className="axis">
              {tick}
            </text>
          </g>
        ))}
        {series.slots.map((slot, i) => {
          let base = 0;
          const x = pad.left + i * slotW + (slotW - barW) / 2;
          return (
            <g key={slot.getTime()}>
              {series.labels.map((label) => {
                const n = series.counts[label]?.[i] ?? 0;
                if (!n) return null;
                const rect = (
                  <rect key={label} x={x} width={barW} y={y(base + n)} height={y(base) - y(base + n)} fill={labelColour(series.labels, label)}>
                    <title>{`${formatHour(slot)}: ${n} ${formatLabel(label)}`}</title>
                  </rect>
                );
                base += n;
                return rect;
              })}
              {slot.getHours() % step === 0 && (
                <text x={x + barW / 2} y={height - 8} textAnchor="middle" className="axis">
                  {formatHour(slot)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {series.labels.length ? (
          <ul className="legend">
            {series.labels.map((label) => (
              <li key={label}>
                <svg width="12" height="12" aria-hidden="true">
                  <rect width="12" height="12" rx="2" fill={labelColour(series.labels, label)} />
                </svg>
                {formatLabel(label)}
              </li>
            ))}
          </ul>
        ) : (
          <span className="muted">No events in the last 24 hours.</span>
        )}
      </figcaption>
      <table className="visually-hidden">
        <caption>Events per hour</caption>
        <thead>
          <tr>
            <th scope="col">Hour</th>
            {series.labels.map((l) => (
              <th scope="col" key={l}>{formatLabel(l)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {series.slots.map((slot, i) =>
            series.totals[i] ? (
              <tr key={slot.getTime()}>
                <th scope="row">{formatHour(slot)}</th>
                {series.labels.map((l) => (
                  <td key={l}>{series.counts[l]?.[i] ?? 0}</td>
                ))}
              </tr>
            ) : null,
          )}
        </tbody>
      </table>
    </figure>
  );
}
