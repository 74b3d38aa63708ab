// Compare two traces: spans matched by service + operation, with count and
// duration differences highlighted.
import { useState, useEffect, useMemo } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtDuration, fmtTime, serviceColor } from './lib.mjs';
import { buildTrace } from './tracemodel.mjs';

// diffTraces groups the spans of a and b by service and operation.
export function diffTraces(a, b) {
  const groups = new Map();
  const add = (t, side) => {
    for (const s of t.spans) {
      const k = `${s.service}\u0000${s.name}`;
      let g = groups.get(k);
      if (!g) groups.set(k, g = { service: s.service, name: s.name, a: { n: 0, dur: 0, err: 0 }, b: { n: 0, dur: 0, err: 0 } });
      g[side].n++; g[side].dur += s.duration; if (s.error) g[side].err++;
    }
  };
  add(a, 'a'); add(b, 'b');
  const rows = [...groups.values()].map(g => {
    const dDur = g.b.dur - g.a.dur;
    const rel = g.a.dur ? dDur / g.a.dur : Infinity;
    const state = !g.a.n ? 'added' : !g.b.n ? 'removed'
      : (g.a.n !== g.b.n || (Math.abs(dDur) >= 1000 && Math.abs(rel) >= 0.1) || g.a.err !== g.b.err) ? 'changed' : 'same';
    return { ...g, dCount: g.b.n - g.a.n, dDur, state };
  });
  const rank = { added: 0, removed: 0, changed: 1, same: 2 };
  rows.sort((x, y) => rank[x.state] - rank[y.state] || Math.abs(y.dDur) - Math.abs(x.dDur) || x.service.localeCompare(y.service));
  return rows;
}

function useTrace(id) {
  const [st, setSt] = useState({});
  useEffect(() => {
    if (!id) { setSt({}); return; }
    const ac = new AbortController();
    setSt({ loading: true });
    getJSON(`/api/traces/${encodeURIComponent(id)}`, ac.signal)
      .then(b => b.data?.[0]?.spans?.length ? setSt({ trace: buildTrace(b.data[0]) }) : setSt({ error: `Trace ${id} not found.` }))
      .catch(e => { if (e.name !== 'AbortError') setSt({ error: e.status === 404 ? `Trace ${id} not found.` : e.message }); });
    return () => ac.abort();
  }, [id]);
  return st;
}

function Signed({ v, fmt, invert }) {
  if (!v) return html`<span class="muted">0</span>`;
  const cls = (v > 0) !== !!invert ? 'up' : 'down';
  return html`<span class=${cls}>${v > 0 ? '+' : '−'}${fmt(Math.abs(v))}</span>`;
}

export function ComparePage({ params }) {
  const a = params.get('a') || '', b = params.get('b') || '';
  const [fa, setFa] = useState(a), [fb, setFb] = useState(b);
  const [onlyDiff, setOnlyDiff] = useState(false);
  useEffect(() => { setFa(a); setFb(b); }, [a, b]);
  const A = useTrace(a), B = useTrace(b);
  const rows = useMemo(() => A.trace && B.trace ? diffTraces(A.trace, B.trace) : null, [A.trace, B.trace]);
  const submit = e => {
    e.preventDefault();
    navigate(`/compare?a=${encodeURIComponent(fa.trim())}&b=${encodeURIComponent(fb.trim())}`);
  };
  const card = (tag, st, id) => html`<div class="card" data-testid="compare-${tag}">
    <div><span class="tag tag${tag}">${tag}</span>${st.trace ? html`<a href="/trace/${id}"><b>${st.trace.root.service}: ${st.trace.root.name}</b></a>`
      : st.error ? html`<span class="err-text">${st.error}</span>` : st.loading ? 'Loading…' : html`<span class="muted">no trace chosen</span>`}</div>
    ${st.trace && html`<div class="muted" style="margin-top:4px">${fmtDuration(st.trace.duration)} · ${st.trace.spans.length} spans · ${st.trace.services.length} services
      ${st.trace.errors ? html` · <span class="err-text">${st.trace.errors} error${st.trace.errors === 1 ? '' : 's'}</span>` : ''} · ${fmtTime(st.trace.start)} · <span class="mono">${id.slice(0, 16)}</span></div>`}
  </div>`;
  const shown = rows ? (onlyDiff ? rows.filter(r => r.state !== 'same') : rows) : [];
  const changed = rows ? rows.filter(r => r.state !== 'same').length : 0;
  return html`<div class="page">
    <form class="cmp-form" onSubmit=${submit}>
      <span class="tag tagA" style="color:#fff;border-radius:4px;padding:0 6px;font-weight:700;font-size:11px">A</span>
      <input value=${fa} onInput=${e => setFa(e.target.value)} placeholder="trace ID" aria-label="Trace A" />
      <span class="tag tagB" style="color:#fff;border-radius:4px;padding:0 6px;font-weight:700;font-size:11px">B</span>
      <input value=${fb} onInput=${e => setFb(e.target.value)} placeholder="trace ID" aria-label="Trace B" />
      <button class="primary" type="submit" disabled=${!fa.trim() || !fb.trim()}>Compare</button>
      <span class="muted">Tip: tick two traces in the search results.</span>
    </form>
    ${(a || b) && html`<div class="cmp-head">${card('A', A, a)}${card('B', B, b)}</div>`}
    ${!a && !b && html`<div class="card empty"><h2>Compare two traces</h2><p>Enter two trace IDs above, or select two traces on the <a href="/search">search page</a>.</p></div>`}
    ${rows && html`<div class="card" style="overflow:hidden">
      <div style="display:flex;gap:12px;align-items:center;padding:10px 12px">
        <b data-testid="compare-summary">${changed} of ${rows.length} operations differ</b>
        <span class="muted">Duration Δ: <${Signed} v=${B.trace.duration - A.trace.duration} fmt=${fmtDuration} /> · span Δ: <${Signed} v=${B.trace.spans.length - A.trace.spans.length} fmt=${String} /></span>
        <div style="flex:1"></div>
        <label class="toggle"><input type="checkbox" checked=${onlyDiff} onChange=${e => setOnlyDiff(e.target.checked)} />only differences</label>
      </div>
      <table class="cmp" data-testid="compare-table"><thead><tr>
        <th>Service</th><th>Operation</th><th class="num">Count A</th><th class="num">Count B</th><th class="num">Δ count</th>
        <th class="num">Total A</th><th class="num">Total B</th><th class="num">Δ duration</th><th class="num">Mean A → B</th></tr></thead>
      <tbody>${shown.map(r => html`<tr class=${r.state} data-testid="compare-row" data-state=${r.state}>
        <td><span class="svc"><i style="background:${serviceColor(r.service)}"></i>${r.service}</span></td>
        <td>${r.name}${r.state === 'added' ? html` <span class="badge muted">only in B</span>` : r.state === 'removed' ? html` <span class="badge muted">only in A</span>` : ''}
          ${r.a.err !== r.b.err ? html` <span class="badge err">errors ${r.a.err}→${r.b.err}</span>` : ''}</td>
        <td class="num">${r.a.n}</td><td class="num">${r.b.n}</td><td class="num delta"><${Signed} v=${r.dCount} fmt=${String} /></td>
        <td class="num">${r.a.n ? fmtDuration(r.a.dur) : '—'}</td><td class="num">${r.b.n ? fmtDuration(r.b.dur) : '—'}</td>
        <td class="num delta"><${Signed} v=${r.dDur} fmt=${fmtDuration} /></td>
        <td class="num muted">${r.a.n ? fmtDuration(r.a.dur / r.a.n) : '—'} → ${r.b.n ? fmtDuration(r.b.dur / r.b.n) : '—'}</td></tr>`)}
      </tbody></table></div>`}
  </div>`;
}
