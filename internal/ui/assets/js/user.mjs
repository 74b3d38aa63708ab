// User and session pages (/user?id=, /session?id=): every trace that
// carries the user's enduser.id (or the session's session.id) in the time
// range, on a timeline and in order, labelled by the browser's root span
// (the user's action) when the trace has one, with errors and slow actions
// marked. Reached from a span's enduser.id / session.id, from error groups
// and from the Search page's user and session fields.
import { useState, useEffect } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtDuration, fmtTime, fmtAgo, fmtWhen, serviceColor, tagValue } from './lib.mjs';
import { buildTrace } from './tracemodel.mjs';

const LOOKBACKS = [['1h', 'Last hour', 3600e6], ['6h', 'Last 6 hours', 6 * 3600e6], ['24h', 'Last 24 hours', 24 * 3600e6],
  ['2d', 'Last 2 days', 48 * 3600e6], ['7d', 'Last 7 days', 7 * 24 * 3600e6]];
export const USER_KEYS = { user: 'enduser.id', session: 'session.id' };
const LIMIT = 200;

// action describes a trace by the action that started it: the browser's
// root span (an OTel JS web SDK span) if there is one, else the root.
function action(jt) {
  const t = buildTrace(jt);
  const browser = t.spans.filter(s => tagValue(s.processTags, 'telemetry.sdk.language') === 'webjs' && (!s.parent || s.orphan));
  const head = browser.sort((a, b) => a.start - b.start)[0] || t.root || t.spans[0];
  const sessions = new Set(), users = new Set();
  for (const s of t.spans) {
    for (const tags of [s.tags, s.processTags]) {
      const sess = tagValue(tags, 'session.id'), u = tagValue(tags, 'enduser.id');
      if (sess) sessions.add(String(sess));
      if (u) users.add(String(u));
    }
  }
  return {
    traceID: t.traceID, start: t.start, duration: t.duration, errors: t.errors, spanCount: t.spans.length,
    service: head ? head.service : '', name: head ? head.name : '', browser: browser.length > 0,
    services: t.services, sessions: [...sessions], users: [...users],
  };
}

export function UserPage({ kind, params }) {
  const id = params.get('id') || '';
  const lb = params.get('lookback') || '24h';
  const key = USER_KEYS[kind];
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    if (!id) return;
    const ac = new AbortController();
    const end = Math.floor(Date.now() * 1000);
    const start = end - (LOOKBACKS.find(l => l[0] === lb) || LOOKBACKS[2])[2];
    const q = new URLSearchParams({ tags: JSON.stringify({ [key]: id }), start, end, limit: LIMIT });
    setState({ loading: true });
    getJSON(`/api/traces?${q}`, ac.signal)
      .then(b => setState({ actions: (b.data || []).map(action).sort((a, b) => a.start - b.start) }))
      .catch(e => { if (e.name !== 'AbortError') setState({ error: e.message }); });
    return () => ac.abort();
  }, [id, lb, kind]);

  const label = kind === 'session' ? 'Session' : 'User';
  const setLb = v => { const p = new URLSearchParams(params); p.set('lookback', v); navigate(`/${kind}?${p}`, { replace: true }); };
  const tools = html`<div class="maptools"><b>${label}</b> <code data-testid="user-id">${id}</code>
    <select value=${lb} aria-label="Time range" onChange=${e => setLb(e.target.value)}>
      ${LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
    <a href="/search?${new URLSearchParams({ [kind]: id })}">search…</a>
    <span class="spacer"></span><span class="muted">Traces with ${key} = ${id}</span></div>`;
  let body;
  if (!id) body = html`<div class="card empty"><h2>No ${label.toLowerCase()} given</h2><p>Open this page from a trace's ${key}, or use the Search page.</p></div>`;
  else if (state.error) body = html`<div class="error-box" role="alert">Cannot load traces: ${state.error}</div>`;
  else if (!state.actions) body = html`<div class="loading">Loading…</div>`;
  else if (!state.actions.length) body = html`<div class="card empty" data-testid="user-empty"><h2>No traces of this ${label.toLowerCase()} in the time range</h2>
    <p>Widen the time range. Traces are found by the ${key} attribute on any span or resource.</p></div>`;
  else body = html`<${Timeline} actions=${state.actions} kind=${kind} />`;
  return html`<div class="page svcpage" data-testid="user-page" data-kind=${kind}>${tools}<div class="svcbody">${body}</div></div>`;
}

function Timeline({ actions, kind }) {
  const durs = actions.map(a => a.duration).sort((a, b) => a - b);
  const median = durs[Math.floor(durs.length / 2)] || 0;
  const slow = a => a.duration >= 1e6 || (actions.length >= 4 && a.duration >= 3 * median && a.duration >= 100e3);
  const errors = actions.filter(a => a.errors).length, slows = actions.filter(slow).length;
  const sessions = [...new Set(actions.flatMap(a => a.sessions))];
  const users = [...new Set(actions.flatMap(a => a.users))];
  const W = 1000, H = 64, L = 8, R = 8;
  let t0 = actions[0].start, t1 = actions[actions.length - 1].start;
  if (t1 - t0 < 1e6) { t0 -= 5e5; t1 += 5e5; }
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
  return html`<div>
    <div class="card svchead"><div class="stats">
      <div class="stat"><span class="muted">Traces</span><b data-testid="user-trace-count">${actions.length}${actions.length >= LIMIT ? '+' : ''}</b></div>
      <div class="stat"><span class="muted">With errors</span><b class=${errors ? 'err-text' : ''} data-testid="user-error-count">${errors}</b></div>
      <div class="stat"><span class="muted">Slow</span><b>${slows}</b></div>
      <div class="stat"><span class="muted">First</span><b title=${fmtTime(actions[0].start)}>${fmtAgo(actions[0].start)}</b><span class="muted">${fmtWhen(actions[0].start)}</span></div>
      <div class="stat"><span class="muted">Last</span><b title=${fmtTime(actions[actions.length - 1].start)}>${fmtAgo(actions[actions.length - 1].start)}</b><span class="muted">${fmtWhen(actions[actions.length - 1].start)}</span></div>
      ${kind === 'user' && sessions.length > 0 && html`<div class="stat"><span class="muted">Sessions</span><span>${sessions.slice(0, 8).map(s => html`<a class="badge muted" href="/session?id=${encodeURIComponent(s)}">${s.slice(0, 12)}</a> `)}</span></div>`}
      ${kind === 'session' && users.length > 0 && html`<div class="stat"><span class="muted">Users</span><span>${users.slice(0, 8).map(u => html`<a class="badge muted" href="/user?id=${encodeURIComponent(u)}">${u}</a> `)}</span></div>`}
    </div>
    <svg viewBox="0 0 ${W} ${H}" style="width:100%;height:${H}px;margin-top:8px" role="img" aria-label="Traces over time" data-testid="user-timeline">
      <line x1=${L} x2=${W - R} y1=${H / 2} y2=${H / 2} style="stroke:var(--border)" />
      ${actions.map(a => html`<circle cx=${x(a.start)} cy=${H / 2} r=${a.errors ? 7 : slow(a) ? 6 : 4.5}
        style="fill:${a.errors ? 'var(--error)' : slow(a) ? 'var(--warn)' : serviceColor(a.service)};cursor:pointer"
        onClick=${() => navigate(`/trace/${a.traceID}`)}><title>${a.service}: ${a.name}\n${fmtDuration(a.duration)}${a.errors ? ` · ${a.errors} errors` : ''}\n${fmtTime(a.start)}</title></circle>`)}
    </svg></div>
    <div class="card tablecard"><table class="cmp metrics" data-testid="user-actions"><thead><tr>
      <th>When</th><th>Action</th><th class="num">Duration</th><th>Services</th></tr></thead><tbody>
      ${actions.map(a => html`<tr data-testid="user-action" data-trace-id=${a.traceID} data-error=${a.errors ? 'true' : 'false'} data-slow=${slow(a) ? 'true' : 'false'}>
        <td class="nowrap" title=${fmtTime(a.start)}>${fmtTime(a.start).slice(5)}</td>
        <td><a href="/trace/${a.traceID}">${a.service}: ${a.name}</a>
          ${a.browser && html` <span class="badge muted">browser</span>`}
          ${a.errors > 0 && html` <span class="badge err">${a.errors} error${a.errors > 1 ? 's' : ''}</span>`}
          ${slow(a) && html` <span class="badge" style="background:var(--warn);color:#fff">slow</span>`}</td>
        <td class="num">${fmtDuration(a.duration)}</td>
        <td>${a.services.map(s => html`<span class="svc"><i style="background:${serviceColor(s.name)}"></i>${s.name}</span> `)}</td></tr>`)}
    </tbody></table></div></div>`;
}
