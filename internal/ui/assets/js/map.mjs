// Service map: services as boxes in columns by call depth. Edges come from
// Clew's service graph (GET /api/clew/servicegraph: calls, error rate, p95,
// virtual nodes such as databases) and, where the server has none (404),
// from Jaeger's GET /api/dependencies (call counts).
import { useState, useEffect, useMemo } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, serviceColor } from './lib.mjs';
import { fmtMs, fmtPct } from './services.mjs';
import { NoTraces } from './search.mjs';

const LOOKBACKS = [['1h', 'Last hour', 3600e3], ['6h', 'Last 6 hours', 6 * 3600e3], ['24h', 'Last 24 hours', 24 * 3600e3],
  ['2d', 'Last 2 days', 48 * 3600e3], ['7d', 'Last 7 days', 7 * 24 * 3600e3]];
const NW = 180, NH = 46, CW = 290, RH = 86, PAD = 30;

// layout places each service in the column of its longest call chain from a
// caller-less service; edges that close a cycle are ignored for placement.
export function layout(deps, extra) {
  const names = new Set(extra);
  for (const d of deps) { names.add(d.parent); names.add(d.child); }
  const out = new Map([...names].map(n => [n, []]));
  for (const d of deps) if (d.parent !== d.child) out.get(d.parent).push(d.child);
  const state = new Map(), back = new Set();
  const dfs = n => {
    state.set(n, 1);
    for (const c of out.get(n)) {
      if (state.get(c) === 1) back.add(`${n}\u0000${c}`);
      else if (!state.get(c)) dfs(c);
    }
    state.set(n, 2);
  };
  const sorted = [...names].sort();
  const hasIn = new Set(deps.filter(d => d.parent !== d.child).map(d => d.child));
  for (const n of sorted) if (!hasIn.has(n) && !state.get(n)) dfs(n);
  for (const n of sorted) if (!state.get(n)) dfs(n);
  const layer = new Map(sorted.map(n => [n, 0]));
  // Longest path over the acyclic part (|V| passes at most).
  for (let changed = true, i = 0; changed && i <= names.size; i++) {
    changed = false;
    for (const n of sorted) for (const c of out.get(n)) {
      if (back.has(`${n}\u0000${c}`)) continue;
      if (layer.get(c) < layer.get(n) + 1) { layer.set(c, layer.get(n) + 1); changed = true; }
    }
  }
  const cols = [];
  for (const n of sorted) (cols[layer.get(n)] ||= []).push(n);
  const pos = new Map();
  cols.forEach((col, ci) => {
    if (ci > 0) {
      // Order by the mean row of callers so edges cross less.
      const bary = n => {
        const ps = deps.filter(d => d.child === n && pos.has(d.parent)).map(d => pos.get(d.parent).row);
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : 1e9;
      };
      col.sort((a, b) => bary(a) - bary(b) || a.localeCompare(b));
    }
    col.forEach((n, row) => pos.set(n, { row, col: ci }));
  });
  const maxRows = Math.max(1, ...cols.map(c => c.length));
  for (const [n, p] of pos) {
    const colLen = cols[p.col].length;
    p.x = PAD + p.col * CW;
    p.y = PAD + (p.row + (maxRows - colLen) / 2) * RH;
  }
  return { pos, width: PAD * 2 + (cols.length - 1) * CW + NW + 40, height: PAD * 2 + (maxRows - 1) * RH + NH + 20 };
}

export function MapPage({ params }) {
  const lb = params.get('lookback') || '24h';
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const ac = new AbortController();
    const ms = (LOOKBACKS.find(l => l[0] === lb) || LOOKBACKS[2])[2];
    setState(s => ({ ...s, loading: true }));
    const end = Date.now();
    const deps = () => getJSON(`/api/dependencies?endTs=${end}&lookback=${ms}`, ac.signal).then(d => ({
      source: 'dependencies', virtual: new Set(),
      deps: (d.data || []).map(x => ({ parent: x.parent, child: x.child, callCount: x.callCount || 0, errorCount: x.errorCount || 0 })),
    }));
    const graph = getJSON(`/api/clew/servicegraph?start=${(end - ms) * 1000}&end=${end * 1000}`, ac.signal).then(g => ({
      source: 'servicegraph',
      virtual: new Set((g.nodes || []).filter(n => n.virtual).map(n => n.name)),
      nodes: (g.nodes || []).map(n => n.name),
      deps: (g.edges || []).map(x => ({ parent: x.client, child: x.server, callCount: x.calls || 0, errorCount: x.errors || 0,
        errorRate: x.errorRate, p50Ms: x.p50Ms, p95Ms: x.p95Ms, connectionType: x.connectionType || '' })),
    }), e => (e.status === 404 ? deps() : Promise.reject(e)));
    Promise.all([graph, getJSON('/api/services', ac.signal)])
      .then(([g, s]) => setState({ ...g, services: [...new Set([...(s.data || []), ...(g.nodes || [])])] }))
      .catch(e => { if (e.name !== 'AbortError') setState({ error: e.message }); });
    return () => ac.abort();
  }, [lb]);
  const g = useMemo(() => state.deps ? layout(state.deps, state.services) : null, [state.deps, state.services]);

  const tools = html`<div class="maptools"><b>Service map</b>
    <select value=${lb} aria-label="Time range" onChange=${e => navigate(`/map?lookback=${e.target.value}`, { replace: true })}>
      ${LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
    <span class="muted">Click a service to search its traces. ${state.source === 'servicegraph'
      ? 'Edge labels: calls, error rate and p95 latency; dashed boxes are uninstrumented peers (databases, external services).'
      : 'Edge labels are call counts.'}</span>
    ${state.source && html`<span class="spacer"></span><span class="muted" data-testid="map-source" data-source=${state.source}
      title=${state.source === 'servicegraph' ? 'From Clew\'s span metrics (/api/clew/servicegraph)' : 'From trace dependencies (/api/dependencies); this server has no service graph'}>
      source: ${state.source === 'servicegraph' ? 'service graph' : 'dependencies'}</span>`}</div>`;
  if (state.error) return html`<div class="page map">${tools}<div class="error-box" role="alert" style="margin:16px">${state.error}</div></div>`;
  if (!g) return html`<div class="page map">${tools}<div class="loading">Loading…</div></div>`;
  if (!g.pos.size) return html`<div class="page map">${tools}<div style="padding:16px"><${NoTraces} /></div></div>`;
  const { pos } = g;
  const maxCalls = Math.max(1, ...state.deps.map(d => d.callCount));
  return html`<div class="page map" data-testid="service-map">${tools}
    <svg viewBox="0 0 ${g.width} ${g.height}" style="max-height:calc(100vh - 110px)" role="img" aria-label="Service dependency graph">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" fill="var(--muted)" /></marker></defs>
      ${state.deps.map(d => {
        const a = pos.get(d.parent), b = pos.get(d.child);
        let path, lx, ly;
        if (d.parent === d.child) {
          const x = a.x + NW - 30, y = a.y;
          path = `M${x},${y} C${x},${y - 40} ${x + 50},${y - 40} ${x + 30},${y}`; lx = x + 20; ly = y - 34;
        } else if (b.col > a.col) {
          const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x - 2, y2 = b.y + NH / 2, mx = (x1 + x2) / 2;
          path = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
          // Label a long edge in the last column gap it crosses, so labels
          // of edges that share a midpoint do not overlap.
          const t = 1 - 0.5 / (b.col - a.col), u = 1 - t;
          lx = u * u * u * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x2;
          ly = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2 - 5;
        } else {
          // Backward or same-column edge: loop under the boxes.
          const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2 + 12, y2 = b.y + NH + 2, dy = Math.max(y1, y2) + 50;
          path = `M${x1},${y1} C${x1},${dy} ${x2},${dy} ${x2},${y2}`; lx = (x1 + x2) / 2; ly = dy - 10;
        }
        const w = 1.2 + 3.5 * Math.sqrt(d.callCount / maxCalls);
        return html`<g class="edge ${d.errorCount ? 'err' : ''}" data-testid="edge">
          <path d=${path} stroke-width=${w} marker-end="url(#arrow)" />
          ${d.p95Ms !== undefined
            ? html`<text x=${lx} y=${ly - 12} text-anchor="middle">${d.callCount} calls</text>
              <text x=${lx} y=${ly + 1} text-anchor="middle" class="sub ${d.errorCount ? 'errl' : ''}">${fmtPct(d.errorRate)} err · p95 ${fmtMs(d.p95Ms)}</text>`
            : html`<text x=${lx} y=${ly} text-anchor="middle">${d.callCount}${d.errorCount ? ` (${d.errorCount} err)` : ''}</text>`}
          <title>${d.parent} → ${d.child}${d.connectionType ? ` (${d.connectionType})` : ''}: ${d.callCount} calls${d.errorCount ? `, ${d.errorCount} failed` : ''}${d.p95Ms !== undefined ? `, p50 ${fmtMs(d.p50Ms)}, p95 ${fmtMs(d.p95Ms)}` : ''}</title></g>`;
      })}
      ${[...pos].map(([n, p]) => {
        const outCalls = state.deps.filter(d => d.parent === n).reduce((s, d) => s + d.callCount, 0);
        const inCalls = state.deps.filter(d => d.child === n).reduce((s, d) => s + d.callCount, 0);
        if (state.virtual.has(n)) {
          // An uninstrumented peer (database, queue, external API) seen
          // only from its callers' client spans: nothing to search.
          return html`<g class="node virtual" transform="translate(${p.x},${p.y})" data-testid="node" data-service=${n} data-virtual="true">
            <rect width=${NW} height=${NH} rx="18" />
            <text x="16" y="20">${n.length > 22 ? n.slice(0, 21) + '…' : n}</text>
            <text class="sub" x="16" y="36">not instrumented · ${inCalls} in</text>
            <title>${n}: seen only from its callers' client spans</title></g>`;
        }
        const go = () => navigate(`/search?service=${encodeURIComponent(n)}`);
        return html`<g class="node" transform="translate(${p.x},${p.y})" tabindex="0" role="link" aria-label="Search traces of ${n}"
            data-testid="node" data-service=${n} onClick=${go} onKeyDown=${e => { if (e.key === 'Enter') go(); }}>
          <rect width=${NW} height=${NH} rx="8" style="stroke:${serviceColor(n)}" />
          <rect width="6" height=${NH} rx="3" style="fill:${serviceColor(n)};stroke:none" />
          <text x="16" y="20">${n.length > 22 ? n.slice(0, 21) + '…' : n}</text>
          <text class="sub" x="16" y="36">${inCalls} in · ${outCalls} out</text>
          <title>${n}</title></g>`;
      })}
    </svg></div>`;
}
