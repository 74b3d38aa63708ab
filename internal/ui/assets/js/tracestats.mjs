// The trace view's Statistics and Flame graph tabs.
import { useState, useMemo, useRef, useLayoutEffect } from '../vendor/preact-hooks.mjs';
import { html, fmtDuration, serviceColor, textOn } from './lib.mjs';
import { traceStats, selfTime } from './tracemodel.mjs';
import { textWidth } from './layout.mjs';

const COLUMNS = [
  ['service', 'Service', false], ['operation', 'Operation', false], ['count', 'Count', true], ['total', 'Total', true],
  ['avg', 'Avg', true], ['min', 'Min', true], ['max', 'Max', true], ['self', 'Self total', true], ['selfAvg', 'Self avg', true],
  ['selfPct', '% of trace', true],
];

// StatsTab is a sortable table of traceStats, grouped by service and
// operation or by service.
export function StatsTab({ trace }) {
  const [byService, setByService] = useState(false);
  const [sort, setSort] = useState(['self', -1]);
  const rows = useMemo(() => {
    const r = traceStats(trace, { byService });
    const [k, dir] = sort;
    return r.sort((a, b) => (typeof a[k] === 'string' ? a[k].localeCompare(b[k]) : a[k] - b[k]) * dir);
  }, [trace, byService, sort]);
  const cols = byService ? COLUMNS.filter(c => c[0] !== 'operation') : COLUMNS;
  const clickSort = k => setSort(([sk, dir]) => [k, sk === k ? -dir : (typeof rows[0]?.[k] === 'string' ? 1 : -1)]);
  const cell = (r, k) => k === 'count' ? r.count : k === 'selfPct' ? `${r.selfPct.toFixed(1)}%` : fmtDuration(r[k]);
  return html`<div class="logs-tab" data-testid="stats-tab">
    <div class="logs-tools">
      <label class="toggle"><input type="checkbox" checked=${byService} onChange=${e => setByService(e.target.checked)} data-testid="stats-by-service" />Group by service only</label>
      <span class="muted">Self time: a span's duration less the time its children cover. "% of trace" is the self total over the trace's ${fmtDuration(trace.duration)}.</span>
    </div>
    <table class="cmp metrics" data-testid="stats-table"><thead><tr>
      ${cols.map(([k, label, num]) => html`<th class="sortable ${num ? 'num' : ''}" data-sort=${k} onClick=${() => clickSort(k)}
        aria-sort=${sort[0] === k ? (sort[1] > 0 ? 'ascending' : 'descending') : undefined}>${label}${sort[0] === k ? (sort[1] > 0 ? ' ▲' : ' ▼') : ''}</th>`)}
    </tr></thead><tbody>
      ${rows.map(r => html`<tr data-testid="stats-row" data-service=${r.service} data-operation=${r.operation}>
        ${cols.map(([k, , num]) => k === 'service'
          ? html`<td><span class="svc"><i style="background:${serviceColor(r.service)}"></i>${r.service}</span></td>`
          : k === 'operation' ? html`<td>${r.operation}${r.errors ? html` <span class="badge err">${r.errors} error${r.errors === 1 ? '' : 's'}</span>` : ''}</td>`
          : html`<td class="num" data-col=${k}>${cell(r, k)}${k === 'selfPct' ? html`<div class="pctbar"><div style="width:${Math.min(100, r.selfPct)}%;background:${serviceColor(r.service)}"></div></div>` : ''}</td>`)}
      </tr>`)}
    </tbody></table>
  </div>`;
}

const FLAME_ROW = 20;
const FLAME_MIN_PX = 0.5; // narrower spans are not drawn (counted in the footer)

// FlameTab draws the trace as a flame graph over time (an icicle: the
// roots on top, each child under its parent at its own start and length).
// Clicking a span selects it in the timeline.
export function FlameTab({ trace, selected, onSelect }) {
  const boxRef = useRef(null);
  const [w, setW] = useState(1000);
  useLayoutEffect(() => {
    const el = boxRef.current;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const font = useMemo(() => `11px ${getComputedStyle(document.body).fontFamily}`, []);
  const dur = trace.duration || 1;
  const shown = trace.spans.filter(s => w * s.duration / dur >= FLAME_MIN_PX);
  const hidden = trace.spans.length - shown.length;
  return html`<div class="logs-tab flame-tab" data-testid="flame-tab">
    <div class="logs-tools"><span class="muted">Time runs left to right over the trace's ${fmtDuration(trace.duration)}; each span sits under its parent. Click a span to open it in the timeline.</span>
      ${hidden > 0 && html`<span class="muted">${hidden} span${hidden === 1 ? '' : 's'} too short to draw</span>`}</div>
    <div class="flame" ref=${boxRef} style="height:${trace.depth * FLAME_ROW}px" data-testid="flame">
      ${shown.map(s => {
        const left = w * (s.start - trace.start) / dur, width = Math.max(1, w * s.duration / dur);
        const color = serviceColor(s.service), label = `${s.service}: ${s.name}`;
        const fits = width >= textWidth(label, font) + 8, short = !fits && width >= textWidth(s.name, font) + 8;
        return html`<div class="fbox ${s.error ? 'err' : ''} ${s.spanID === selected ? 'sel' : ''}" data-testid="flame-box" data-span-id=${s.spanID} data-depth=${s.depth}
            style="left:${left}px;width:${width}px;top:${s.depth * FLAME_ROW}px;background:${color};color:${textOn(color)}"
            title="${label}\n${fmtDuration(s.duration)} (self ${fmtDuration(selfTime(s))})" onClick=${() => onSelect(s)}>
          ${fits ? label : short ? s.name : ''}</div>`;
      })}
    </div>
  </div>`;
}
