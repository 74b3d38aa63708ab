// Errors page: error groups ("issues") from /api/clew/errors — exceptions
// and failed spans grouped by type, normalised message, service, operation
// and top in-app frame, counted at ingest before sampling. The list shows
// counts, users, an hourly sparkline and new/rising marks; a group shows
// its example traces (those sampling kept first). /errors?trace=&span=
// resolves a span of the trace view to its group.
import { useState, useEffect } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtAgo, fmtWhen, fmtTime, fmtDuration, serviceColor, parseTimeUs } from './lib.mjs';

export const ERROR_LOOKBACKS = [['1h', 'Last hour', 3600e6], ['6h', 'Last 6 hours', 6 * 3600e6], ['24h', 'Last 24 hours', 24 * 3600e6],
  ['2d', 'Last 2 days', 48 * 3600e6], ['7d', 'Last 7 days', 7 * 24 * 3600e6]];

function rangeOf(lb) {
  const end = Math.floor(Date.now() * 1000);
  return [end - (ERROR_LOOKBACKS.find(l => l[0] === lb) || ERROR_LOOKBACKS[2])[2], end];
}

function Sparkline({ points, w = 120, h = 24 }) {
  if (!points || !points.length) return html`<span class="muted">—</span>`;
  const max = Math.max(1, ...points);
  const bw = w / points.length;
  return html`<svg width=${w} height=${h} viewBox="0 0 ${w} ${h}" role="img" aria-label="Occurrences per hour" data-testid="sparkline">
    ${points.map((c, i) => c > 0 && html`<rect x=${i * bw} y=${h - Math.max(1.5, (h - 2) * c / max)} width=${Math.max(1, bw - 1)}
      height=${Math.max(1.5, (h - 2) * c / max)} style="fill:var(--error)"><title>${c}</title></rect>`)}
    <line x1="0" x2=${w} y1=${h - 0.5} y2=${h - 0.5} style="stroke:var(--border)" /></svg>`;
}

function Title({ g }) {
  return html`<span class="mono"><b class="err-text">${g.type || 'Error'}</b>${g.pattern ? html`: ${g.pattern}` : ''}</span>`;
}

export function ErrorsPage({ params }) {
  const lb = params.get('lookback') || '24h';
  const service = params.get('service') || '';
  const text = params.get('q') || '';
  const id = params.get('id') || '';
  const trace = params.get('trace') || '', span = params.get('span') || '';
  const [q, setQ] = useState(text);
  const [state, setState] = useState({ loading: true });
  const [lookup, setLookup] = useState(null);

  const setParams = changes => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    navigate(`/errors?${p}`, { replace: 'lookback' in changes });
  };

  // A span from the trace view: find its group, then show it.
  useEffect(() => {
    if (!trace || !span) return;
    const ac = new AbortController();
    setLookup({ loading: true });
    getJSON(`/api/clew/errors/lookup?traceID=${encodeURIComponent(trace)}&spanID=${encodeURIComponent(span)}`, ac.signal)
      .then(b => { setLookup(null); navigate(`/errors?id=${b.id}${lb !== '24h' ? `&lookback=${lb}` : ''}`, { replace: true }); })
      .catch(e => { if (e.name !== 'AbortError') setLookup({ error: e.message }); });
    return () => ac.abort();
  }, [trace, span]);

  useEffect(() => { setQ(text); }, [text]);
  useEffect(() => {
    if (id || trace) return;
    const ac = new AbortController();
    const [start, end] = rangeOf(lb);
    const p = new URLSearchParams({ start, end, limit: 200 });
    if (service) p.set('service', service);
    if (text) p.set('q', text);
    setState(s => ({ ...s, loading: true }));
    getJSON(`/api/clew/errors?${p}`, ac.signal)
      .then(b => setState({ groups: b.groups || [], services: b.services || [] }))
      .catch(e => { if (e.name !== 'AbortError') setState({ error: e.message }); });
    return () => ac.abort();
  }, [lb, service, text, id, trace]);

  const tools = html`<div class="maptools" data-testid="errors-tools"><b>Errors</b>
    <select value=${lb} aria-label="Time range" onChange=${e => setParams({ lookback: e.target.value })}>
      ${ERROR_LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
    ${!id && html`<select value=${service} aria-label="Service" data-testid="errors-service" onChange=${e => setParams({ service: e.target.value })}>
      <option value="">All services</option>
      ${(state.services || (service ? [service] : [])).map(s => html`<option value=${s}>${s}</option>`)}</select>
      <form onSubmit=${e => { e.preventDefault(); setParams({ q: q.trim() }); }} style="display:inline-flex;gap:4px">
        <input placeholder="Filter by type, message, operation…" value=${q} onInput=${e => setQ(e.target.value)} aria-label="Filter errors" data-testid="errors-filter" style="width:260px" />
      </form>`}
    ${id && html`<a href="/errors?${new URLSearchParams(lb !== '24h' ? { lookback: lb } : {})}">all error groups</a>`}
    <span class="spacer"></span>
    <span class="muted">Counted from every span and error log Clew receives, before sampling.</span></div>`;

  let body;
  if (lookup?.loading) body = html`<div class="loading">Finding this span's error group…</div>`;
  else if (lookup?.error) body = html`<div class="error-box" role="alert" data-testid="errors-lookup-error">This span belongs to no error group: ${lookup.error}</div>`;
  else if (id) body = html`<${GroupDetail} id=${id} lb=${lb} />`;
  else if (state.error) body = html`<div class="error-box" role="alert">Cannot load error groups: ${state.error}</div>`;
  else if (!state.groups) body = html`<div class="loading">Loading…</div>`;
  else if (!state.groups.length) body = html`<div class="card empty" data-testid="errors-empty"><h2>No errors in this time range</h2>
    <p>Failed spans, exceptions and error logs with a trace ID appear here, grouped.</p></div>`;
  else body = html`<${GroupTable} groups=${state.groups} lb=${lb} />`;
  return html`<div class="page svcpage" data-testid="errors-page">${tools}<div class="svcbody">${body}</div></div>`;
}

function GroupTable({ groups, lb }) {
  const open = g => navigate(`/errors?id=${g.id}${lb !== '24h' ? `&lookback=${lb}` : ''}`);
  return html`<div class="card tablecard"><table class="cmp metrics" data-testid="errors-table"><thead><tr>
      <th>Error</th><th>Service / operation</th><th class="num">Events</th><th class="num">Users</th><th>Per hour</th><th>Last seen</th>
    </tr></thead><tbody>${groups.map(g => html`<tr class="clickable" tabindex="0" data-testid="error-row" data-id=${g.id} data-count=${g.count}
        onClick=${() => open(g)} onKeyDown=${e => { if (e.key === 'Enter') open(g); }}>
      <td style="max-width:520px;overflow:hidden;text-overflow:ellipsis">
        <a href="/errors?id=${g.id}" onClick=${e => e.preventDefault()}><${Title} g=${g} /></a>
        ${g.new && html` <span class="badge err" data-testid="new-badge">new</span>`}
        ${g.rising && html` <span class="badge err" data-testid="rising-badge">rising</span>`}
        ${g.frame && html`<div class="muted mono" style="font-size:11px">${g.frame}</div>`}</td>
      <td><span class="svc"><i style="background:${serviceColor(g.service)}"></i>${g.service}</span> <span class="muted">${g.operation}</span></td>
      <td class="num" data-testid="error-count">${g.count}${g.logs ? html`<div class="muted" style="font-size:11px">${g.logs} logs</div>` : ''}</td>
      <td class="num" data-testid="error-users">${g.users}${g.atLeast ? '+' : ''}</td>
      <td><${Sparkline} points=${g.hourly} /></td>
      <td class="nowrap" title=${fmtTime(parseTimeUs(g.lastSeen))}>${fmtAgo(parseTimeUs(g.lastSeen))}<div class="muted" style="font-size:11px">${fmtWhen(parseTimeUs(g.lastSeen))}</div></td>
    </tr>`)}</tbody></table></div>`;
}

function GroupDetail({ id, lb }) {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const ac = new AbortController();
    const [start, end] = rangeOf(lb);
    const p = new URLSearchParams({ start, end });
    Promise.all([getJSON(`/api/clew/errors/${id}?${p}`, ac.signal), getJSON(`/api/clew/errors/${id}/traces?${p}`, ac.signal)])
      .then(([g, t]) => setState({ g, traces: t.traces || [] }))
      .catch(e => { if (e.name !== 'AbortError') setState({ error: e.status === 404 ? 'this group has no occurrences in the time range' : e.message }); });
    return () => ac.abort();
  }, [id, lb]);
  if (state.error) return html`<div class="error-box" role="alert" data-testid="group-error">Cannot load the error group: ${state.error}</div>`;
  if (!state.g) return html`<div class="loading">Loading…</div>`;
  const { g, traces } = state;
  const releases = Object.entries(g.releases || {}).sort((a, b) => b[1] - a[1]);
  return html`<div data-testid="error-group" data-id=${g.id}>
    <div class="card svchead">
      <h2 style="margin:0 0 6px"><${Title} g=${g} />
        ${g.new && html` <span class="badge err">new</span>`}${g.rising && html` <span class="badge err">rising</span>`}</h2>
      ${g.message && g.message !== g.pattern && html`<div class="mono muted" style="margin-bottom:6px">e.g. ${g.message}</div>`}
      <div class="stats">
        <div class="stat"><span class="muted">Events</span><b data-testid="group-count">${g.count}</b></div>
        <div class="stat"><span class="muted">Error logs</span><b>${g.logs}</b></div>
        <div class="stat"><span class="muted">Users</span><b data-testid="group-users">${g.users}${g.atLeast ? '+' : ''}</b></div>
        <div class="stat"><span class="muted">Sessions</span><b>${g.sessions}${g.atLeast ? '+' : ''}</b></div>
        <div class="stat"><span class="muted">First seen</span><b title=${fmtTime(parseTimeUs(g.firstEver))}>${fmtAgo(parseTimeUs(g.firstEver))}</b><span class="muted">${fmtWhen(parseTimeUs(g.firstEver))}</span></div>
        <div class="stat"><span class="muted">Last seen</span><b title=${fmtTime(parseTimeUs(g.lastSeen))}>${fmtAgo(parseTimeUs(g.lastSeen))}</b><span class="muted">${fmtWhen(parseTimeUs(g.lastSeen))}</span></div>
        <div class="stat"><span class="muted">Per hour</span><${Sparkline} points=${g.hourly} w=${240} h=${32} /></div>
      </div>
      <table class="kv" style="margin-top:8px;max-width:760px"><tbody>
        <tr><td>service</td><td><a href="/services?service=${encodeURIComponent(g.service)}"><span class="svc"><i style="background:${serviceColor(g.service)}"></i>${g.service}</span></a></td></tr>
        <tr><td>operation</td><td>${g.operation || '—'}</td></tr>
        ${g.frame && html`<tr><td>top in-app frame</td><td class="mono">${g.frame}</td></tr>`}
        <tr><td>releases</td><td>${releases.length ? releases.map(([r, n]) => html`<span class="badge muted">${r} (${n})</span> `) : '—'}</td></tr>
        <tr><td>users</td><td data-testid="group-user-ids">${g.userIDs.length ? g.userIDs.map(u => html`<a class="badge muted" href="/user?id=${encodeURIComponent(u)}">${u}</a> `) : '—'}</td></tr>
      </tbody></table>
    </div>
    <h3>Example traces</h3>
    ${traces.length ? html`<div class="card tablecard"><table class="cmp metrics" data-testid="group-traces"><thead><tr>
        <th>When</th><th>Trace</th><th>User</th><th>Session</th><th class="num">Duration</th></tr></thead><tbody>
      ${traces.map(t => html`<tr data-testid="group-trace" data-stored=${t.stored ? 'true' : 'false'}>
        <td class="nowrap" title=${fmtTime(parseTimeUs(t.time))}>${fmtAgo(parseTimeUs(t.time))} <span class="muted">${fmtWhen(parseTimeUs(t.time))}</span></td>
        <td>${t.stored ? html`<a href="/trace/${t.traceID}${t.spanID ? `?span=${t.spanID}` : ''}">${t.rootService}: ${t.rootOperation}</a>
            ${' '}<span class="muted mono">${t.traceID.slice(0, 7)}</span>${t.errorSpans ? html` <span class="badge err">${t.errorSpans} errors</span>` : ''}`
          : html`<span class="muted mono" title="Not kept by sampling, expired, or not written yet">${t.traceID.slice(0, 12)}… not stored</span>`}</td>
        <td>${t.user ? html`<a href="/user?id=${encodeURIComponent(t.user)}">${t.user}</a>` : '—'}</td>
        <td>${t.session ? html`<a href="/session?id=${encodeURIComponent(t.session)}">${t.session.slice(0, 12)}</a>` : '—'}</td>
        <td class="num">${t.stored ? fmtDuration(t.durationMicros) : ''}</td></tr>`)}
      </tbody></table></div>` : html`<div class="muted">No example traces in this time range.</div>`}
  </div>`;
}
