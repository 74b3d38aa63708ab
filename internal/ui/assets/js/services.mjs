// Services page: RED metrics (rate, errors, duration) per service and per
// operation from Clew's span-metrics API, with small charts over time and
// links to slow and failed traces. Without that API (404) it explains why
// the page is empty.
import { useState, useEffect, useMemo } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtDuration, serviceColor, niceTicks, parseTimeUs, fmtClock, tzName } from './lib.mjs';

export const LOOKBACKS = [['15m', 'Last 15 minutes', 15 * 60e6], ['1h', 'Last hour', 3600e6], ['6h', 'Last 6 hours', 6 * 3600e6],
  ['24h', 'Last 24 hours', 24 * 3600e6], ['2d', 'Last 2 days', 48 * 3600e6]];
// The search page's lookbacks, for links to traces of the same range.
const SEARCH_LOOKBACK = { '15m': '15m', '1h': '1h', '6h': '6h', '24h': '24h', '2d': '2d' };

// rangeOf gives the [start, end] of a lookback in Unix µs, the unit of
// Clew's other time parameters.
export function rangeOf(lb) {
  const end = Math.floor(Date.now() * 1000);
  return [end - (LOOKBACKS.find(l => l[0] === lb) || LOOKBACKS[1])[2], end];
}

// Step of the time series: about 60 points over the range, at least 60 s.
function stepFor(lb) {
  const us = (LOOKBACKS.find(l => l[0] === lb) || LOOKBACKS[1])[2];
  return Math.max(60, Math.round(us / 1e6 / 60 / 60) * 60);
}

// Point times may come as RFC 3339 or as Unix seconds, ms or µs.
function timeUs(t) {
  if (typeof t === 'string') return /^\d+$/.test(t) ? timeUs(Number(t)) : parseTimeUs(t);
  if (typeof t !== 'number') return NaN;
  return t > 1e14 ? t : t > 1e11 ? t * 1000 : t * 1e6;
}

export const fmtMs = ms => (ms == null || isNaN(ms) ? '—' : fmtDuration(ms * 1000));
export const fmtPct = r => (r == null || isNaN(r) ? '—' : r === 0 ? '0%' : r < 0.001 ? '<0.1%' : `${(r * 100).toFixed(r < 0.1 ? 1 : 0)}%`);
export const fmtRate = r => (r == null || isNaN(r) ? '—' : r >= 100 ? `${Math.round(r)}/s` : r >= 1 ? `${r.toFixed(1)}/s` : r >= 1 / 60 ? `${(r * 60).toFixed(1)}/min` : `${(r * 3600).toFixed(1)}/h`);
// rateIn returns a rate formatter with one unit for every value of an axis
// or column, chosen by its largest value (a mixed "0.0/h … 5.0/s" axis
// cannot be read at a glance).
export function rateIn(maxPerSec) {
  const [mult, unit] = maxPerSec >= 1 ? [1, '/s'] : maxPerSec >= 1 / 60 ? [60, '/min'] : [3600, '/h'];
  return r => {
    if (r == null || isNaN(r)) return '—';
    const v = r * mult;
    return `${v >= 100 ? Math.round(v) : v.toFixed(v >= 10 || v === 0 ? (Number.isInteger(v) ? 0 : 1) : 1)}${unit}`;
  };
}
const maxOf = (rows, k) => Math.max(0, ...rows.map(r => Number(r[k]) || 0));

// A metrics request that found no endpoint: the server has no span metrics.
const isMissing = e => e && e.status === 404;

export function ServicesPage({ params }) {
  const lb = params.get('lookback') || '1h';
  const service = params.get('service') || '';
  const [state, setState] = useState({ loading: true });
  const [reload, setReload] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    const [start, end] = rangeOf(lb);
    setState(s => ({ ...s, loading: true }));
    getJSON(`/api/clew/metrics/services?start=${start}&end=${end}`, ac.signal)
      .then(b => setState({ services: b.services || [] }))
      .catch(e => { if (e.name !== 'AbortError') setState(isMissing(e) ? { missing: e.message } : { error: e.message }); });
    return () => ac.abort();
  }, [lb, reload]);

  const setParam = (k, v) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v); else p.delete(k);
    if (k === 'service') p.delete('operation');
    navigate(`/services?${p}`, { replace: k === 'lookback' });
  };
  const tools = html`<div class="maptools"><b>Services</b>
    <select value=${lb} aria-label="Time range" onChange=${e => setParam('lookback', e.target.value)}>
      ${LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
    <button class="icon" onClick=${() => setReload(r => r + 1)} title="Reload">↻ Refresh</button>
    ${service && html`<span class="muted">/</span><a href="/services?${new URLSearchParams({ ...(lb !== '1h' ? { lookback: lb } : {}) })}">all services</a>
      <span class="muted">/</span><span class="svc"><i style="background:${serviceColor(service)}"></i>${service}</span>`}
    <a href="/errors?${new URLSearchParams(service ? { service } : {})}" data-testid="services-errors-link">${service ? `${service} error groups` : 'error groups'}</a>
    <span class="spacer"></span>
    <span class="muted">Rate, errors and duration (RED) from every span Clew stores.</span></div>`;

  let body;
  if (state.missing) body = html`<${NoMetrics} />`;
  else if (state.error) body = html`<div class="error-box" role="alert">Cannot load service metrics: ${state.error}</div>`;
  else if (!state.services) body = html`<div class="loading">Loading…</div>`;
  else if (service) body = html`<${ServiceDetail} service=${service} lb=${lb} params=${params} summary=${state.services.find(s => s.service === service)} />`;
  else if (!state.services.length) body = html`<div class="card empty" data-testid="services-empty"><h2>No spans in this time range</h2>
    <p>Widen the time range, or send traces to Clew (OTLP on ports 4317 and 4318).</p></div>`;
  else body = html`<${ServicesTable} services=${state.services} onPick=${s => setParam('service', s)} lb=${lb} />`;
  return html`<div class="page svcpage" data-testid="services-page">${tools}<div class="svcbody">${body}</div></div>`;
}

function NoMetrics() {
  return html`<div class="card empty" data-testid="services-unavailable">
    <h2>Service metrics are not available</h2>
    <p>This Clew does not serve span metrics (<code>GET /api/clew/metrics/services</code> answered 404).
      They are computed from the spans Clew receives, by a Clew version with span metrics.</p>
    <p>Meanwhile, the <a href="/map">service map</a> shows who calls whom, and <a href="/search">search</a> finds slow
      (min duration) and failed (<code>error=true</code>) traces.</p>
  </div>`;
}

// useSort keeps a table's sort column and direction.
function useSort(initial) {
  const [sort, setSort] = useState(initial);
  const th = (key, label, cls = 'num') => html`<th class="${cls} sortable" aria-sort=${sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
      onClick=${() => setSort(s => ({ key, desc: s.key === key ? !s.desc : key !== 'service' && key !== 'operation' }))} data-sort=${key}>
    ${label}${sort.key === key ? (sort.desc ? ' ▾' : ' ▴') : ''}</th>`;
  const apply = rows => rows.slice().sort((a, b) => {
    const x = a[sort.key], y = b[sort.key];
    const c = typeof x === 'string' || typeof y === 'string' ? String(x ?? '').localeCompare(String(y ?? '')) : (x ?? -1) - (y ?? -1);
    return sort.desc ? -c : c;
  });
  return { th, apply };
}

function ServicesTable({ services, onPick }) {
  const { th, apply } = useSort({ key: 'ratePerSec', desc: true });
  const rows = apply(services);
  const rate = rateIn(maxOf(services, 'ratePerSec'));
  return html`<div class="card tablecard"><table class="cmp metrics" data-testid="services-table"><thead><tr>
      ${th('service', 'Service', '')}${th('ratePerSec', 'Rate')}${th('errorRate', 'Error rate')}${th('p50Ms', 'p50')}${th('p95Ms', 'p95')}${th('p99Ms', 'p99')}${th('calls', 'Calls')}
    </tr></thead><tbody>${rows.map(s => html`<tr data-testid="service-row" data-service=${s.service} class="clickable" tabindex="0"
        onClick=${() => onPick(s.service)} onKeyDown=${e => { if (e.key === 'Enter') onPick(s.service); }}>
      <td><a href="/services?service=${encodeURIComponent(s.service)}" onClick=${e => e.preventDefault()}><span class="svc"><i style="background:${serviceColor(s.service)}"></i>${s.service}</span></a></td>
      <td class="num">${rate(s.ratePerSec)}</td>
      <td class="num ${s.errorRate > 0 ? 'err-text' : ''}">${fmtPct(s.errorRate)}${s.errors ? html` <span class="muted">(${s.errors})</span>` : ''}</td>
      <td class="num">${fmtMs(s.p50Ms)}</td><td class="num">${fmtMs(s.p95Ms)}</td><td class="num">${fmtMs(s.p99Ms)}</td>
      <td class="num muted">${s.calls}</td></tr>`)}</tbody></table></div>`;
}

// searchLink builds a /search URL for a service (and operation) over the
// page's time range.
function searchLink(service, operation, lb, extra) {
  const p = new URLSearchParams({ service });
  if (operation) p.set('operation', operation);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  if (SEARCH_LOOKBACK[lb] && lb !== '1h') p.set('lookback', SEARCH_LOOKBACK[lb]);
  return `/search?${p}`;
}
// A duration in Go syntax the search form and API accept.
const goDur = ms => `${Math.max(0, Math.floor(ms * 1000))}us`;

// Plain clicks route on the client (the row's own click must not run).
const go = e => {
  e.stopPropagation();
  if (!(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button)) { e.preventDefault(); navigate(e.currentTarget.getAttribute('href')); }
};

function TraceLinks({ service, operation, p95Ms, lb }) {
  return html`<span class="tracelinks">
    ${p95Ms > 0 && html`<a href=${searchLink(service, operation, lb, { minDuration: goDur(p95Ms), sort: 'longest' })} onClick=${go} data-testid="slow-traces"
      title="Traces slower than the p95 (${fmtMs(p95Ms)})">slow ≥ ${fmtMs(p95Ms)}</a>`}
    <a href=${searchLink(service, operation, lb, { tags: 'error=true' })} onClick=${go} data-testid="failed-traces" title="Traces with a failed span">failed</a></span>`;
}

function ServiceDetail({ service, lb, params, summary }) {
  const operation = params.get('operation') || '';
  const [ops, setOps] = useState({ loading: true });
  const [series, setSeries] = useState({ loading: true });
  useEffect(() => {
    const ac = new AbortController();
    const [start, end] = rangeOf(lb);
    setOps({ loading: true });
    getJSON(`/api/clew/metrics/operations?service=${encodeURIComponent(service)}&start=${start}&end=${end}`, ac.signal)
      .then(b => setOps({ list: b.operations || [] }))
      .catch(e => { if (e.name !== 'AbortError') setOps({ error: e.message, missing: isMissing(e) }); });
    return () => ac.abort();
  }, [service, lb]);
  useEffect(() => {
    const ac = new AbortController();
    const [start, end] = rangeOf(lb);
    const q = new URLSearchParams({ service, start, end, step: `${stepFor(lb)}s` });
    if (operation) q.set('operation', operation);
    setSeries({ loading: true });
    getJSON(`/api/clew/metrics/timeseries?${q}`, ac.signal)
      .then(b => setSeries({ points: (b.points || []).map(p => ({ ...p, t: timeUs(p.time) })).filter(p => !isNaN(p.t)).sort((a, b) => a.t - b.t), step: b.stepSeconds, start, end }))
      .catch(e => { if (e.name !== 'AbortError') setSeries({ error: e.message }); });
    return () => ac.abort();
  }, [service, operation, lb]);
  const { th, apply } = useSort({ key: 'ratePerSec', desc: true });
  const pickOp = op => {
    const p = new URLSearchParams(params);
    if (op && op !== operation) p.set('operation', op); else p.delete('operation');
    navigate(`/services?${p}`, { replace: true });
  };
  const opSummary = operation && ops.list ? ops.list.find(o => o.operation === operation) : null;
  const opRate = rateIn(maxOf(ops.list || [], 'ratePerSec'));
  const head = opSummary || summary;
  return html`<div data-testid="service-detail">
    <div class="svchead card">
      <h2><span class="svc big"><i style="background:${serviceColor(service)}"></i>${service}</span>
        ${operation && html`<span class="muted">›</span><span data-testid="operation-title">${operation}</span>
          <button class="icon" onClick=${() => pickOp('')} title="Show the whole service">✕</button>`}</h2>
      ${head ? html`<div class="stats">
        <div class="stat"><b>${fmtRate(head.ratePerSec)}</b><span>Rate</span></div>
        <div class="stat"><b class=${head.errorRate > 0 ? 'err-text' : ''}>${fmtPct(head.errorRate)}</b><span>Errors</span></div>
        <div class="stat"><b>${fmtMs(head.p50Ms)}</b><span>p50</span></div>
        <div class="stat"><b>${fmtMs(head.p95Ms)}</b><span>p95</span></div>
        <div class="stat"><b>${fmtMs(head.p99Ms)}</b><span>p99</span></div>
        <div class="stat"><b>${head.calls}</b><span>Calls</span></div>
        <${TraceLinks} service=${service} operation=${operation} p95Ms=${head.p95Ms} lb=${lb} />
      </div>` : html`<div class="muted">No spans of ${service} in this time range.</div>`}
    </div>
    <div class="charts">
      ${series.error ? html`<div class="error-box">Cannot load the time series: ${series.error}</div>`
        : series.loading ? html`<div class="loading">Loading charts…</div>`
        : [['ratePerSec', 'Rate', rateIn, 'var(--accent)'], ['errors', 'Errors', () => v => String(Math.round(v)), 'var(--error)'], ['p95Ms', 'p95 duration', () => fmtMs, 'var(--warn)']]
          .map(([k, label, fmt, color]) => html`<${Chart} key=${k} label=${label} points=${series.points} field=${k} fmt=${fmt} color=${color} start=${series.start} end=${series.end} />`)}
    </div>
    <div class="card tablecard">
      ${ops.error ? html`<div class="error-box" style="margin:12px">Cannot load operations: ${ops.error}</div>`
        : ops.loading ? html`<div class="loading">Loading operations…</div>`
        : !ops.list.length ? html`<div class="empty"><p>No operations in this time range.</p></div>`
        : html`<table class="cmp metrics" data-testid="operations-table"><thead><tr>
          ${th('operation', 'Operation', '')}${th('spanKind', 'Kind', '')}${th('ratePerSec', 'Rate')}${th('errorRate', 'Error rate')}${th('p50Ms', 'p50')}${th('p95Ms', 'p95')}${th('p99Ms', 'p99')}${th('calls', 'Calls')}<th>Traces</th>
        </tr></thead><tbody>${apply(ops.list).map(o => html`<tr data-testid="operation-row" data-operation=${o.operation}
            class="clickable ${o.operation === operation ? 'selrow' : ''}" onClick=${() => pickOp(o.operation)} title="Chart this operation">
          <td>${o.operation}</td><td class="muted">${o.spanKind || ''}</td>
          <td class="num">${opRate(o.ratePerSec)}</td>
          <td class="num ${o.errorRate > 0 ? 'err-text' : ''}">${fmtPct(o.errorRate)}${o.errors ? html` <span class="muted">(${o.errors})</span>` : ''}</td>
          <td class="num">${fmtMs(o.p50Ms)}</td><td class="num">${fmtMs(o.p95Ms)}</td><td class="num">${fmtMs(o.p99Ms)}</td><td class="num muted">${o.calls}</td>
          <td onClick=${e => e.stopPropagation()}><${TraceLinks} service=${service} operation=${o.operation} p95Ms=${o.p95Ms} lb=${lb} /></td></tr>`)}
        </tbody></table>`}
    </div>
  </div>`;
}

// Chart is a small SVG line chart of one field over the page's range.
// fmtFor(max) gives the formatter for every label of the chart, so an axis
// has one unit. A point without a value (null: no calls that step) is a gap
// in the line, not a zero.
function Chart({ label, points, field, fmt: fmtFor, color, start, end }) {
  const W = 360, H = 120, L = 44, R = 8, T = 8, B = 18;
  const vals = points.map(p => (p[field] == null || isNaN(Number(p[field])) ? null : Number(p[field])));
  const known = vals.filter(v => v != null);
  const max = Math.max(0, ...known);
  const top = max > 0 ? niceTicks(0, max * 1.1, 3).slice(-1)[0] || max : 1;
  const yMax = Math.max(top, max) || 1;
  const fmt = fmtFor(yMax);
  const t0 = points.length ? Math.min(start, points[0].t) : start, t1 = points.length ? Math.max(end, points[points.length - 1].t) : end;
  const x = t => L + (W - L - R) * (t - t0) / Math.max(1, t1 - t0);
  const y = v => H - B - (H - T - B) * v / yMax;
  // Runs of consecutive known values, each drawn as its own line and area.
  const runs = [];
  points.forEach((p, i) => {
    if (vals[i] == null) return;
    if (i === 0 || vals[i - 1] == null) runs.push([]);
    runs[runs.length - 1].push([x(p.t), y(vals[i])]);
  });
  const line = r => r.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
  const area = r => `${line(r)}L${r[r.length - 1][0].toFixed(1)},${y(0)}L${r[0][0].toFixed(1)},${y(0)}Z`;
  const clock = us => fmtClock(us, false);
  const lastIdx = vals.findLastIndex(v => v != null);
  return html`<div class="card chart" data-testid="chart" data-field=${field}>
    <div class="charthead"><b>${label}</b><span class="muted">${lastIdx >= 0 ? `latest ${fmt(vals[lastIdx])} · max ${fmt(max)}` : 'no data'}</span></div>
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${label} over time">
      <g class="axis">${niceTicks(0, yMax, 3).map(v => html`<line x1=${L} x2=${W - R} y1=${y(v)} y2=${y(v)} /><text class="ytick" x=${L - 4} y=${y(v) + 3} text-anchor="end">${fmt(v)}</text>`)}
        <text x=${L} y=${H - 4}>${clock(t0)}</text><text x=${W - R} y=${H - 4} text-anchor="end">${clock(t1)} ${tzName(new Date(t1 / 1000))}</text></g>
      ${runs.map(r => html`<path d=${area(r)} style="fill:${color};fill-opacity:.12;stroke:none" /><path class="series" d=${line(r)} style="fill:none;stroke:${color};stroke-width:1.6" />
        ${r.length === 1 && html`<circle cx=${r[0][0]} cy=${r[0][1]} r="2.5" style="fill:${color}" />`}`)}
    </svg></div>`;
}
