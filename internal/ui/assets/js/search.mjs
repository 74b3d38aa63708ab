// Search page: the form (mirrored in the URL so searches can be shared),
// a duration-over-time scatter plot and the result list.
import { useState, useEffect, useMemo } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtDuration, fmtTime, fmtAgo, fmtWhen, fmtClock, tzName, parseDuration, serviceColor, niceTicks, normID } from './lib.mjs';
import { TraceQLBox, TEMPO, fromTempo } from './traceql.mjs';

export const LOOKBACKS = [['15m', 'Last 15 minutes', 15 * 60e6], ['1h', 'Last hour', 3600e6], ['6h', 'Last 6 hours', 6 * 3600e6],
  ['24h', 'Last 24 hours', 24 * 3600e6], ['2d', 'Last 2 days', 48 * 3600e6], ['custom', 'Custom range', 0]];
const SORTS = [['recent', 'Most recent'], ['longest', 'Longest first'], ['spans', 'Most spans']];

// parseTags reads `key=value` pairs separated by spaces; values may be
// double-quoted to contain spaces.
export function parseTags(s) {
  const out = {};
  const re = /([^\s=]+)=("([^"]*)"|\S*)/g;
  let m;
  while ((m = re.exec(s || ''))) out[m[1]] = m[3] !== undefined ? m[3] : m[2];
  return out;
}

function formFromParams(p) {
  return {
    service: p.get('service') || '',
    operation: p.get('operation') || '',
    tags: p.get('tags') || '',
    user: p.get('user') || '',
    session: p.get('session') || '',
    minDuration: p.get('minDuration') || '',
    maxDuration: p.get('maxDuration') || '',
    lookback: p.get('lookback') || '1h',
    start: p.get('start') || '',
    end: p.get('end') || '',
    limit: p.get('limit') || '20',
    q: p.get('q') || '', // TraceQL; when set it replaces the form's filters
  };
}

export function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function apiQuery(f) {
  const q = new URLSearchParams();
  q.set('service', f.service);
  if (f.operation) q.set('operation', f.operation);
  const tags = parseTags(f.tags);
  if (f.user) tags['enduser.id'] = f.user;
  if (f.session) tags['session.id'] = f.session;
  if (Object.keys(tags).length) q.set('tags', JSON.stringify(tags));
  if (f.minDuration) q.set('minDuration', f.minDuration);
  if (f.maxDuration) q.set('maxDuration', f.maxDuration);
  let end = Date.now() * 1000, start;
  if (f.lookback === 'custom') {
    if (f.start) start = new Date(f.start).getTime() * 1000;
    if (f.end) end = new Date(f.end).getTime() * 1000;
  } else {
    start = end - (LOOKBACKS.find(l => l[0] === f.lookback) || LOOKBACKS[1])[2];
  }
  if (start) q.set('start', String(Math.floor(start)));
  q.set('end', String(Math.floor(end)));
  q.set('limit', f.limit || '20');
  return q;
}

// summariesQuery is the search in Jaeger api_v3's parameters, for
// /api/v3/trace-summaries: the results list needs only the traces'
// summaries, which the server reads from its index without the spans.
export function summariesQuery(f) {
  const a = apiQuery(f), q = new URLSearchParams();
  q.set('query.service_name', a.get('service'));
  if (a.get('operation')) q.set('query.operation_name', a.get('operation'));
  if (a.get('tags')) q.set('query.attributes', a.get('tags'));
  // Go durations: exact nanoseconds, whatever spelling the form took.
  for (const [k, n] of [['minDuration', 'query.duration_min'], ['maxDuration', 'query.duration_max']]) {
    const us = a.get(k) ? parseDuration(a.get(k)) : null;
    if (us != null) q.set(n, `${Math.round(us * 1000)}ns`);
  }
  const iso = us => new Date(Math.floor(Number(us) / 1000)).toISOString();
  q.set('query.start_time_min', iso(a.get('start') || 0));
  q.set('query.start_time_max', iso(a.get('end')));
  q.set('query.search_depth', a.get('limit'));
  return q;
}

// fromSummary turns one api_v3 trace summary into the Search page's result.
export function fromSummary(s) {
  const start = BigInt(s.minStartTimeUnixNano || '0'), end = BigInt(s.maxEndTimeUnixNano || '0');
  return {
    traceID: normID(s.traceId),
    rootService: s.rootServiceName || '',
    rootName: s.rootOperationName || '',
    start: Number(start / 1000n),
    duration: Number((end - start) / 1000n),
    spanCount: s.spanCount || 0,
    errors: s.errorSpanCount || 0,
    services: (s.services || []).map(x => ({ name: x.name, count: x.spanCount || 0, errors: x.errorSpanCount || 0 })),
  };
}

export function SearchPage({ params }) {
  const [services, setServices] = useState(null);
  const [ops, setOps] = useState([]);
  const [form, setForm] = useState(() => formFromParams(params));
  const [state, setState] = useState({ loading: false, error: null, results: null });
  const [selected, setSelected] = useState([]);
  const [logCounts, setLogCounts] = useState(null);
  const sort = params.get('sort') || 'recent';
  const paramKey = params.toString();

  useEffect(() => {
    const ac = new AbortController();
    getJSON('/api/services', ac.signal).then(b => {
      const list = (b.data || []).slice().sort();
      setServices(list);
      // A bare /search (or /) opens the first service's recent traces.
      if (!params.get('service') && !params.get('q') && list.length) {
        const p = new URLSearchParams(params);
        p.set('service', list[0]);
        navigate(`/search?${p}`, { replace: true });
      }
    }).catch(e => { if (e.name !== 'AbortError') setState(s => ({ ...s, error: `Cannot load services: ${e.message}` })); });
    return () => ac.abort();
  }, []);

  useEffect(() => { setForm(formFromParams(params)); }, [paramKey]);

  useEffect(() => {
    if (!form.service) { setOps([]); return; }
    const ac = new AbortController();
    getJSON(`/api/services/${encodeURIComponent(form.service)}/operations`, ac.signal)
      .then(b => setOps([...new Set((b.data || []).map(o => typeof o === 'string' ? o : o.name))].sort()))
      .catch(() => setOps([]));
    return () => ac.abort();
  }, [form.service]);

  // Run the search the URL describes.
  useEffect(() => {
    const f = formFromParams(params);
    if (!f.service && !f.q) { setState({ loading: false, error: null, results: null }); return; }
    const ac = new AbortController();
    setState(s => ({ ...s, loading: true, error: null }));
    let req;
    if (f.q) {
      // Tempo's search takes Unix seconds.
      const a = apiQuery(f), t = new URLSearchParams({ q: f.q, limit: a.get('limit') });
      for (const k of ['start', 'end']) if (a.get(k)) t.set(k, String(Math.floor(Number(a.get(k)) / 1e6)));
      req = getJSON(`${TEMPO}/api/search?${t}`, ac.signal).then(b => (b.traces || []).map(tr => fromTempo(tr, f.q)));
    } else {
      req = getJSON(`/api/v3/trace-summaries?${summariesQuery(f)}`, ac.signal).then(b => (b.summaries || []).map(fromSummary));
    }
    req.then(results => setState({ loading: false, error: null, results }))
      .catch(e => { if (e.name !== 'AbortError') setState({ loading: false, error: e.message, results: null }); });
    return () => ac.abort();
  }, [paramKey]);

  // Log lines per trace: one request for the whole page; without it the
  // results simply show no counts.
  useEffect(() => {
    setLogCounts(null);
    if (!state.results || !state.results.length) return;
    const ac = new AbortController();
    const q = new URLSearchParams();
    for (const r of state.results.slice(0, 1000)) q.append('traceID', r.traceID);
    getJSON(`/api/clew/logs/count?${q}`, ac.signal).then(b => setLogCounts(b.counts || {})).catch(() => {});
    return () => ac.abort();
  }, [state.results]);

  const set = k => e => setForm({ ...form, [k]: e.target.value, ...(k === 'service' ? { operation: '' } : {}) });
  const submit = e => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (!v || k === 'q') continue;
      if ((k === 'start' || k === 'end') && form.lookback !== 'custom') continue;
      if (k === 'lookback' && v === '1h') continue;
      if (k === 'limit' && v === '20') continue;
      p.set(k, v);
    }
    if (sort !== 'recent') p.set('sort', sort);
    navigate(`/search?${p}`);
  };
  const setSort = v => {
    const p = new URLSearchParams(params);
    if (v === 'recent') p.delete('sort'); else p.set('sort', v);
    navigate(`/search?${p}`, { replace: true });
  };
  const durErr = (form.minDuration && parseDuration(form.minDuration) == null) || (form.maxDuration && parseDuration(form.maxDuration) == null);

  const results = useMemo(() => {
    if (!state.results) return null;
    const r = state.results.slice();
    if (sort === 'longest') r.sort((a, b) => b.duration - a.duration);
    else if (sort === 'spans') r.sort((a, b) => b.spanCount - a.spanCount);
    else r.sort((a, b) => b.start - a.start);
    return r;
  }, [state.results, sort]);

  if (services && !services.length) return html`<div class="page"><${NoTraces} /></div>`;

  const toggleSel = id => setSelected(sel => sel.includes(id) ? sel.filter(x => x !== id) : [...sel, id].slice(-2));

  const runTraceQL = q => {
    const p = new URLSearchParams();
    p.set('q', q);
    for (const k of ['lookback', 'start', 'end', 'limit']) if (params.get(k)) p.set(k, params.get(k));
    navigate(`/search?${p}`);
  };

  return html`<div class="page"><div class="search"><div class="search-side">
    <${TraceQLBox} value=${form.q} onRun=${runTraceQL} />
    <form class="card" onSubmit=${submit} data-testid="search-form">
      <h3>Find traces</h3>
      <div class="field"><label for="f-service">Service</label>
        <select id="f-service" value=${form.service} onChange=${set('service')}>
          ${!services && html`<option value="">Loading…</option>`}
          ${(services || []).map(s => html`<option value=${s}>${s}</option>`)}
        </select></div>
      <div class="field"><label for="f-op">Operation</label>
        <select id="f-op" value=${form.operation} onChange=${set('operation')}>
          <option value="">All operations</option>
          ${ops.map(o => html`<option value=${o}>${o}</option>`)}
        </select></div>
      <div class="field"><label for="f-tags">Tags</label>
        <input id="f-tags" placeholder="error=true http.response.status_code=500" value=${form.tags} onInput=${set('tags')} />
        <span class="hint">key=value, space-separated; quote values with spaces</span></div>
      <div class="row2">
        <div class="field"><label for="f-user">User</label><input id="f-user" placeholder="enduser.id" value=${form.user} onInput=${set('user')} /></div>
        <div class="field"><label for="f-session">Session</label><input id="f-session" placeholder="session.id" value=${form.session} onInput=${set('session')} /></div>
      </div>
      <div class="row2">
        <div class="field"><label for="f-min">Min duration</label><input id="f-min" placeholder="e.g. 100ms" value=${form.minDuration} onInput=${set('minDuration')} /></div>
        <div class="field"><label for="f-max">Max duration</label><input id="f-max" placeholder="e.g. 2s" value=${form.maxDuration} onInput=${set('maxDuration')} /></div>
      </div>
      ${durErr && html`<span class="hint err-text">Durations look like 250ms, 1.5s or 2m.</span>`}
      <div class="field"><label for="f-lookback">Time range</label>
        <select id="f-lookback" value=${form.lookback} onChange=${e => {
          const v = e.target.value;
          const extra = v === 'custom' && !form.start ? { start: toLocalInput(Date.now() - 3600e3), end: toLocalInput(Date.now()) } : {};
          setForm({ ...form, lookback: v, ...extra });
        }}>
          ${LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select></div>
      ${form.lookback === 'custom' && html`<div class="row2">
        <div class="field"><label for="f-start">From (${tzName()})</label><input id="f-start" type="datetime-local" value=${form.start} onInput=${set('start')} /></div>
        <div class="field"><label for="f-end">To (${tzName()})</label><input id="f-end" type="datetime-local" value=${form.end} onInput=${set('end')} /></div></div>`}
      <div class="field"><label for="f-limit">Limit</label><input id="f-limit" type="number" min="1" max="1500" value=${form.limit} onInput=${set('limit')} /></div>
      <button class="primary" type="submit" disabled=${!form.service || durErr} data-testid="search-submit">Find traces</button>
    </form></div>
    <section>
      ${state.error && html`<div class="error-box" role="alert">${state.error}</div>`}
      ${state.loading && !results && html`<div class="loading">Searching…</div>`}
      ${results && html`
        <div class="results-head">
          <h2 data-testid="result-count">${results.length} trace${results.length === 1 ? '' : 's'}</h2>
          ${state.loading && html`<span class="muted">refreshing…</span>`}
          ${params.get('user') && html`<a href="/user?id=${encodeURIComponent(params.get('user'))}" data-testid="search-user-link">all traces of user ${params.get('user')} →</a>`}
          ${params.get('session') && html`<a href="/session?id=${encodeURIComponent(params.get('session'))}">session timeline →</a>`}
          <div class="spacer"></div>
          <button disabled=${selected.length !== 2} onClick=${() => navigate(`/compare?a=${selected[0]}&b=${selected[1]}`)} data-testid="compare-selected"
            title="Tick two traces to compare them">Compare ${selected.length}/2</button>
          <label class="muted" for="f-sort">Sort</label>
          <select id="f-sort" value=${sort} onChange=${e => setSort(e.target.value)}>${SORTS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
        </div>
        ${results.length ? html`
          <${Scatter} results=${results} />
          <div data-testid="results">${results.map(r => html`<${ResultItem} key=${r.traceID} r=${r} max=${Math.max(...results.map(x => x.duration))}
              checked=${selected.includes(r.traceID)} onCheck=${() => toggleSel(r.traceID)} logs=${logCounts ? logCounts[normID(r.traceID)] : undefined} />`)}</div>` :
          html`<div class="card empty"><h2>No traces match</h2><p>Widen the time range, drop a tag filter, or pick another service.</p></div>`}`}
    </section>
  </div></div>`;
}

function ResultItem({ r, max, checked, onCheck, logs }) {
  const href = r.href || `/trace/${r.traceID}`;
  const open = () => navigate(href);
  return html`<div class="card result" onClick=${open} data-testid="result" data-trace-id=${r.traceID}>
    <input type="checkbox" checked=${checked} onClick=${e => { e.stopPropagation(); onCheck(); }} aria-label="Select for compare" />
    <div class="title">
      <a href=${href} onClick=${e => {
        // The card handles plain clicks; modified clicks keep the browser's
        // own behaviour (new tab).
        e.stopPropagation();
        if (!(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button)) { e.preventDefault(); open(); }
      }}>${r.rootService}: ${r.rootName}</a>
      <span class="tid">${r.traceID.slice(0, 7)}</span>
      ${r.errors > 0 && html`<span class="badge err" data-testid="error-badge">${r.errors} error${r.errors > 1 ? 's' : ''}</span>`}
    </div>
    <div class="dur">${fmtDuration(r.duration)}</div>
    <div></div>
    <div class="meta">
      <span class="badge muted">${r.spanCount} span${r.spanCount === 1 ? '' : 's'}</span>
      ${r.matched > 0 && html`<span class="badge" data-testid="matched-badge" title="Spans the TraceQL query matched">${r.matched} matched</span>`}
      ${logs !== undefined && html`<a class="badge ${logs ? 'logs' : 'muted'}" data-testid="log-count" data-count=${logs} href="/trace/${r.traceID}?tab=logs"
        title="${logs} log line${logs === 1 ? '' : 's'} carry this trace's ID" onClick=${e => {
          e.stopPropagation();
          if (!(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button)) { e.preventDefault(); navigate(`/trace/${r.traceID}?tab=logs`); }
        }}>${logs} log${logs === 1 ? '' : 's'}</a>`}
      ${r.services.map(s => html`<span class="svc" title="${s.count} spans${s.errors ? `, ${s.errors} errors` : ''}"><i style="background:${serviceColor(s.name)}"></i>${s.name} (${s.count})${s.errors ? html` <b class="err-text">!</b>` : ''}</span>`)}
    </div>
    <div class="when" title=${fmtTime(r.start)} data-testid="when"><span data-testid="ago">${fmtAgo(r.start)}</span><br /><span data-testid="at">${fmtWhen(r.start)}</span></div>
    <div class="durbar"><div style="width:${max ? Math.max(0.5, 100 * r.duration / max) : 0}%"></div></div>
  </div>`;
}

function Scatter({ results }) {
  const W = 1000, H = 170, L = 56, R = 14, T = 10, B = 24;
  let t0 = Math.min(...results.map(r => r.start)), t1 = Math.max(...results.map(r => r.start));
  if (t1 - t0 < 1e6) { t0 -= 5e5; t1 += 5e5; }
  const dmax = Math.max(...results.map(r => r.duration)) * 1.1 || 1;
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = d => H - B - (H - T - B) * d / dmax;
  const yt = niceTicks(0, dmax, 4), xt = niceTicks(t0, t1, 6);
  return html`<div class="card scatter" data-testid="scatter">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Trace duration over time">
      <g class="axis">
        ${yt.map(v => html`<line x1=${L} x2=${W - R} y1=${y(v)} y2=${y(v)} /><text x=${L - 6} y=${y(v) + 3} text-anchor="end">${fmtDuration(v)}</text>`)}
        ${xt.map(v => html`<text class="xtick" x=${x(v)} y=${H - 6} text-anchor="middle">${fmtClock(v)}</text>`)}
        <text x="4" y=${H - 6} data-testid="scatter-zone">${tzName(new Date(t1 / 1000))}</text>
      </g>
      ${results.map(r => html`<circle cx=${x(r.start)} cy=${y(r.duration)} r=${Math.min(12, 3.5 + Math.sqrt(r.spanCount) / 1.5)}
          style="fill:${r.errors ? 'var(--error)' : serviceColor(r.rootService)};stroke:${r.errors ? 'var(--error)' : serviceColor(r.rootService)}"
          onClick=${() => navigate(`/trace/${r.traceID}`)} data-trace-id=${r.traceID}>
          <title>${r.rootService}: ${r.rootName}\n${fmtDuration(r.duration)} · ${r.spanCount} spans${r.errors ? ` · ${r.errors} errors` : ''}\n${fmtTime(r.start)}</title></circle>`)}
    </svg></div>`;
}

// NoTraces tells how to send traces, with this server's OTLP addresses
// (GET /assets/config.json: the receivers as bound, reachable by the host
// name this page was loaded from).
export function NoTraces() {
  const [cfg, setCfg] = useState(null);
  useEffect(() => {
    const ac = new AbortController();
    fetch('/assets/config.json', { signal: ac.signal }).then(r => r.ok ? r.json() : Promise.reject(new Error(r.statusText)))
      .then(c => setCfg(c.otlp || {})).catch(e => { if (e.name !== 'AbortError') setCfg({ failed: true }); });
    return () => ac.abort();
  }, []);
  if (!cfg) return html`<div class="card empty"><h2>No traces yet</h2></div>`;
  const { grpc, http } = cfg;
  const endpoint = http || (grpc ? `http://${grpc}` : '');
  return html`<div class="card empty" data-testid="empty-state">
    <h2>No traces yet — send some</h2>
    ${cfg.failed ? html`<p>Point any OpenTelemetry SDK at this Clew's OTLP receiver (its <code>--otlp-http-addr</code> / <code>--otlp-grpc-addr</code>).</p>`
    : !endpoint ? html`<p>This Clew's OTLP receivers are switched off (<code>--otlp-http-addr</code> / <code>--otlp-grpc-addr</code>); the Jaeger and Zipkin endpoints may be on.</p>`
    : html`<p>This Clew accepts OTLP ${[grpc && html`over gRPC on <code data-testid="otlp-grpc">${grpc}</code>`, http && html`over HTTP at <code data-testid="otlp-http">${http}</code>`]
        .filter(Boolean).flatMap((x, i) => i ? [' and ', x] : [x])}. Point any OpenTelemetry SDK at it:</p>
    <pre>${[`OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint}`, !http && 'OTEL_EXPORTER_OTLP_PROTOCOL=grpc', 'OTEL_SERVICE_NAME=my-service', 'OTEL_TRACES_EXPORTER=otlp'].filter(Boolean).join('\n')}</pre>`}
    <p>then reload this page. Jaeger clients can send to the Jaeger endpoints too.</p>
  </div>`;
}
