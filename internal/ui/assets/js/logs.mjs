// Logs page: searches log records (GET /api/clew/logs) by service, minimum
// severity, body text, attributes and time range; each record links to its
// trace and its span. The form is mirrored in the URL.
import { useState, useEffect } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, fmtAgo, fmtWhen, fmtTime, tzName, serviceColor, normLogs, sevClass, sevLabel } from './lib.mjs';
import { LOOKBACKS, toLocalInput, parseTags } from './search.mjs';

const SEVERITIES = [['', 'Any severity'], ['DEBUG', 'DEBUG and above'], ['INFO', 'INFO and above'], ['WARN', 'WARN and above'], ['ERROR', 'ERROR and above'], ['FATAL', 'FATAL']];
const LIMIT_MAX = 1000;

function formFromParams(p) {
  return {
    service: p.get('service') || '', severity: p.get('severity') || '', q: p.get('q') || '', attrs: p.get('attrs') || '',
    lookback: p.get('lookback') || '1h', start: p.get('start') || '', end: p.get('end') || '', limit: p.get('limit') || '100',
  };
}

// apiQuery turns the form into the logs API's parameters: attributes are
// `key=value` pairs (as in the trace search's tags), sent as attr=key:value.
export function logsQuery(f, nowMs = Date.now()) {
  const q = new URLSearchParams();
  if (f.service) q.set('service', f.service);
  if (f.severity) q.set('severity', f.severity);
  if (f.q) q.set('contains', f.q);
  for (const [k, v] of Object.entries(parseTags(f.attrs))) q.append('attr', `${k}:${v}`);
  let end = nowMs * 1000, start;
  if (f.lookback === 'custom') {
    if (f.start) start = new Date(f.start).getTime() * 1000;
    if (f.end) end = new Date(f.end).getTime() * 1000;
  } else {
    start = end - (LOOKBACKS.find(l => l[0] === f.lookback) || LOOKBACKS[1])[2];
  }
  if (start) q.set('start', String(Math.floor(start)));
  q.set('end', String(Math.floor(end)));
  q.set('limit', String(Math.min(LIMIT_MAX, Math.max(1, parseInt(f.limit, 10) || 100))));
  return q;
}

export function LogsPage({ params }) {
  const [form, setForm] = useState(() => formFromParams(params));
  const [services, setServices] = useState([]);
  const [state, setState] = useState({ loading: false, error: null, logs: null });
  const paramKey = params.toString();

  useEffect(() => {
    const ac = new AbortController();
    getJSON('/api/services', ac.signal).then(b => setServices((b.data || []).slice().sort())).catch(() => {});
    return () => ac.abort();
  }, []);
  useEffect(() => { setForm(formFromParams(params)); }, [paramKey]);
  // Run the search the URL describes.
  useEffect(() => {
    const f = formFromParams(params);
    const ac = new AbortController();
    setState(s => ({ ...s, loading: true, error: null }));
    getJSON(`/api/clew/logs?${logsQuery(f)}`, ac.signal)
      .then(b => setState({ loading: false, error: null, logs: normLogs(b.logs) }))
      .catch(e => { if (e.name !== 'AbortError') setState({ loading: false, error: e.message, logs: null }); });
    return () => ac.abort();
  }, [paramKey]);

  const set = k => e => setForm({ ...form, [k]: e.target.value });
  const submit = e => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (!v) continue;
      if ((k === 'start' || k === 'end') && form.lookback !== 'custom') continue;
      if ((k === 'lookback' && v === '1h') || (k === 'limit' && v === '100')) continue;
      p.set(k, v);
    }
    navigate(`/logs${p.toString() ? `?${p}` : ''}`);
  };
  const logs = state.logs;
  const limit = Math.min(LIMIT_MAX, parseInt(form.limit, 10) || 100);
  return html`<div class="page"><div class="search">
    <form class="card" onSubmit=${submit} data-testid="logs-form">
      <h3>Find log records</h3>
      <div class="field"><label for="l-service">Service</label>
        <input id="l-service" list="l-services" placeholder="any service" value=${form.service} onInput=${set('service')} />
        <datalist id="l-services">${services.map(s => html`<option value=${s} />`)}</datalist></div>
      <div class="field"><label for="l-severity">Severity</label>
        <select id="l-severity" value=${form.severity} onChange=${set('severity')}>${SEVERITIES.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></div>
      <div class="field"><label for="l-q">Text</label>
        <input id="l-q" placeholder="words in the message" value=${form.q} onInput=${set('q')} /></div>
      <div class="field"><label for="l-attrs">Attributes</label>
        <input id="l-attrs" placeholder="http.route=/orders region=eu" value=${form.attrs} onInput=${set('attrs')} />
        <span class="hint">key=value, space-separated; record or resource attributes</span></div>
      <div class="field"><label for="l-lookback">Time range</label>
        <select id="l-lookback" value=${form.lookback} onChange=${e => {
          const v = e.target.value;
          const extra = v === 'custom' && !form.start ? { start: toLocalInput(Date.now() - 3600e3), end: toLocalInput(Date.now()) } : {};
          setForm({ ...form, lookback: v, ...extra });
        }}>${LOOKBACKS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></div>
      ${form.lookback === 'custom' && html`<div class="row2">
        <div class="field"><label for="l-start">From (${tzName()})</label><input id="l-start" type="datetime-local" value=${form.start} onInput=${set('start')} /></div>
        <div class="field"><label for="l-end">To (${tzName()})</label><input id="l-end" type="datetime-local" value=${form.end} onInput=${set('end')} /></div></div>`}
      <div class="field"><label for="l-limit">Limit</label><input id="l-limit" type="number" min="1" max=${LIMIT_MAX} value=${form.limit} onInput=${set('limit')} /></div>
      <button class="primary" type="submit" data-testid="logs-submit">Find logs</button>
    </form>
    <section>
      ${state.error && html`<div class="error-box" role="alert">${state.error}</div>`}
      ${state.loading && !logs && html`<div class="loading">Searching…</div>`}
      ${logs && html`<div class="results-head"><h2 data-testid="logs-count">${logs.length}${logs.length >= limit ? '+' : ''} record${logs.length === 1 ? '' : 's'}</h2>
          ${state.loading && html`<span class="muted">refreshing…</span>`}<span class="muted">newest first</span></div>
        ${logs.length ? html`<div class="card tablecard"><table class="logtable" data-testid="logs-results"><thead><tr><th>Time</th><th>Service</th><th>Severity</th><th>Message</th><th>Trace</th></tr></thead><tbody>
          ${logs.map(l => html`<tr class="sev-${sevClass(l.severityNumber)}" data-testid="log-record">
            <td class="nowrap" title=${fmtTime(l.t)}><span class="mono">${fmtWhen(l.t)}</span><div class="muted">${fmtAgo(l.t)}</div></td>
            <td><span class="svc"><i style="background:${serviceColor(l.service)}"></i>${l.service}</span></td>
            <td><span class="sev sev-${sevClass(l.severityNumber)}">${sevLabel(l)}</span></td>
            <td><div class="logmsg">${l.body}</div><div class="chips">${Object.keys(l.attributes).sort().map(k => html`<span class="kvchip"><b>${k}</b>=${String(l.attributes[k])}</span>`)}</div></td>
            <td class="nowrap">${l.traceId ? html`<a href="/trace/${l.traceId}?tab=logs" data-testid="log-trace-link" title=${l.traceId}>trace ${l.traceId.slice(0, 8)}…</a>
              ${l.spanId && html`<br /><a href="/trace/${l.traceId}?span=${l.spanId}" data-testid="log-span-link" title="Open the trace at this span">span ${l.spanId.slice(0, 8)}…</a>`}`
              : html`<span class="muted">no trace</span>`}</td></tr>`)}
          </tbody></table></div>` : html`<div class="card empty" data-testid="logs-empty"><h2>No log records match</h2>
            <p>Widen the time range or drop a filter. Services send logs over OTLP (<code>/v1/logs</code>); see the empty Search page for the addresses.</p></div>`}`}
    </section>
  </div></div>`;
}
