// The span detail panel of the trace view.
import { useState } from '../vendor/preact-hooks.mjs';
import { html, fmtDuration, fmtTime, copyText, serviceColor, tagValue, sevClass, sevLabel } from './lib.mjs';

function CopyButton({ text, label }) {
  const [done, setDone] = useState(false);
  const click = e => {
    e.stopPropagation();
    copyText(text).then(() => { setDone(true); setTimeout(() => setDone(false), 1200); });
  };
  return html`<button class="icon" onClick=${click} title="Copy ${label}" aria-label="Copy ${label}">${done ? 'Copied' : 'Copy'}</button>`;
}

function fmtValue(t) {
  if (t.value === null || t.value === undefined) return '';
  if (typeof t.value === 'object') return JSON.stringify(t.value);
  return String(t.value);
}

// Values that open a page of their own: the user's and the session's.
const VALUE_PAGES = { 'enduser.id': 'user', 'user.id': 'user', 'session.id': 'session' };

// dotted lets a long attribute key wrap only after its dots
// ("http.response.|status_code"), not inside a word.
function dotted(key) {
  const parts = key.split(/(?<=\.)/);
  return parts.flatMap((p, i) => i ? [html`<wbr />`, p] : [p]);
}

function KV({ tags, testid }) {
  if (!tags || !tags.length) return html`<div class="muted">none</div>`;
  const sorted = tags.slice().sort((a, b) => a.key.localeCompare(b.key));
  return html`<table class="kv" data-testid=${testid}><tbody>
    ${sorted.map(t => html`<tr><td class="key" title=${t.key}>${dotted(t.key)}</td><td>${VALUE_PAGES[t.key] && fmtValue(t)
      ? html`<a href="/${VALUE_PAGES[t.key]}?id=${encodeURIComponent(fmtValue(t))}" data-testid="${VALUE_PAGES[t.key]}-link">${fmtValue(t)}</a>` : fmtValue(t)}</td></tr>`)}
  </tbody></table>`;
}

function Event({ log, span }) {
  const fields = log.fields || [];
  const name = tagValue(fields, 'event') ?? tagValue(fields, 'message') ?? 'event';
  const excType = tagValue(fields, 'exception.type');
  const excMsg = tagValue(fields, 'exception.message');
  const stack = tagValue(fields, 'exception.stacktrace') ?? tagValue(fields, 'stack');
  const rest = fields.filter(f => !['event', 'exception.type', 'exception.message', 'exception.stacktrace', 'stack'].includes(f.key));
  const isExc = name === 'exception' || excType !== undefined;
  return html`<div class="event ${isExc ? 'exc' : ''}" data-testid="event">
    <div class="ehead"><span class=${isExc ? 'err-text' : ''}>${name}</span><span class="muted">+${fmtDuration(log.timestamp - span.start)}</span></div>
    ${isExc && (excType || excMsg) && html`<div class="err-text mono">${excType}${excType && excMsg ? ': ' : ''}${excMsg}</div>`}
    ${rest.length > 0 && html`<${KV} tags=${rest} />`}
    ${stack && html`<pre class="stack" data-testid="stacktrace">${String(stack)}</pre>`}
  </div>`;
}

// RefLink is a link or message source: within this trace it selects the
// span here (naming it), otherwise it opens the other trace at that span.
function RefLink({ traceID, spanID, trace, onGoto }) {
  const here = traceID === trace.traceID ? trace.byId.get(spanID) : null;
  const follow = e => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button) return;
    e.preventDefault();
    onGoto(traceID, spanID);
  };
  return html`<a href="/trace/${traceID}?span=${spanID}" onClick=${follow} data-testid="ref-link">${here
    ? html`<span class="svc"><i style="background:${serviceColor(here.service)}"></i>${here.service}</span> ${here.name} <span class="muted">${here.kind}</span>`
    : html`${traceID === trace.traceID ? 'this trace' : traceID.slice(0, 12) + '…'} / ${spanID}`}</a>`;
}

export function SpanDetail({ span, trace, analysis, logs, hops, onGoto, onClose }) {
  const crit = analysis?.criticalTime?.[span.spanID];
  const self = analysis?.selfTime?.[span.spanID];
  const gaps = analysis ? analysis.gaps.filter(g => g.spanID === span.spanID) : [];
  return html`<aside class="detail" data-testid="span-detail" aria-label="Span detail">
    <h2><span>${span.name}</span><span class="spacer"></span>
      <button class="icon" onClick=${onClose} title="Close (Esc)" aria-label="Close span detail">✕</button></h2>
    <div style="display:flex;gap:6px;align-items:center;flex-wrap:wrap">
      <span class="svc"><i style="background:${serviceColor(span.service)}"></i>${span.service}</span>
      <span class="badge muted">${span.kind}</span>
      ${span.error && html`<span class="badge err">error</span>`}
      ${(span.logs.some(l => tagValue(l.fields, 'event') === 'exception' || tagValue(l.fields, 'exception.type') !== undefined) || (span.error && span.kind !== 'client' && span.kind !== 'producer')) &&
        html`<a class="badge err" href="/errors?trace=${span.traceID}&span=${span.spanID}" data-testid="error-group-link" title="All occurrences of this error">error group →</a>`}
      ${crit > 0 && html`<span class="badge muted" title="Time this span spent on the critical path">critical ${fmtDuration(crit)}</span>`}
    </div>
    <h3>Identifiers</h3>
    <div class="ids">
      <span class="muted">Span</span><code data-testid="span-id">${span.spanID}</code><${CopyButton} text=${span.spanID} label="span ID" />
      <span class="muted">Trace</span><code>${span.traceID}</code><${CopyButton} text=${span.traceID} label="trace ID" />
      ${span.parent && html`<span class="muted">Parent</span><code>${span.parent.spanID}</code><${CopyButton} text=${span.parent.spanID} label="parent span ID" />`}
    </div>
    <h3>Overview</h3>
    <table class="kv"><tbody>
      <tr><td>status</td><td><span class="status ${span.statusCode || (span.error ? 'ERROR' : '')}" data-testid="status">${span.statusCode || (span.error ? 'ERROR' : 'UNSET')}</span>${span.statusMessage && html` — ${span.statusMessage}`}</td></tr>
      <tr><td>kind</td><td data-testid="detail-kind">${span.kind}</td></tr>
      ${(hops || []).map(h => html`<tr data-testid="message-from"><td>message from</td><td><${RefLink} traceID=${h.span.traceID} spanID=${h.span.spanID} trace=${trace} onGoto=${onGoto} />
        <div class="muted">${h.via === 'link' ? 'by span link' : 'parent producer'}; started ${fmtDuration(span.start - h.span.start)} after it</div></td></tr>`)}
      <tr><td>start</td><td>${fmtTime(span.start)} (+${fmtDuration(span.start - trace.start)})</td></tr>
      <tr><td>duration</td><td>${fmtDuration(span.duration)}</td></tr>
      ${self !== undefined && html`<tr><td>self time</td><td>${fmtDuration(self)}</td></tr>`}
      ${gaps.length > 0 && html`<tr><td>uninstrumented</td><td>${gaps.map(g => html`<div>${fmtDuration(g.duration)} at +${fmtDuration(g.start - span.start)}</div>`)}</td></tr>`}
      <tr><td>scope</td><td>${span.scopeName || '—'}${span.scopeVersion && ` ${span.scopeVersion}`}</td></tr>
      ${span.orphan && html`<tr><td>parent</td><td class="err-text">missing from the trace (orphan)</td></tr>`}
    </tbody></table>
    ${span.warnings.length > 0 && html`<h3>Warnings</h3>${span.warnings.map(w => html`<div class="err-text">${w}</div>`)}`}
    <h3>Attributes</h3><${KV} tags=${span.attributes} testid="attributes" />
    <h3>Resource</h3><${KV} tags=${[{ key: 'service.name', value: span.service }, ...span.processTags.filter(t => t.key !== 'service.name')]} testid="resource" />
    <h3>Events (${span.logs.length})</h3>
    ${span.logs.length ? span.logs.map(l => html`<${Event} log=${l} span=${span} />`) : html`<div class="muted">none</div>`}
    <h3>Logs (${logs ? logs.length : 0})</h3>
    ${logs && logs.length ? html`<div data-testid="span-logs">${logs.map(l => html`<div class="slog sev-${sevClass(l.severityNumber)}">
        <div class="ehead"><span class="sev sev-${sevClass(l.severityNumber)}">${sevLabel(l)}</span><span class="muted">+${fmtDuration(l.t - span.start)}</span></div>
        <div class="logmsg">${l.body}</div>
        ${Object.keys(l.attributes).length > 0 && html`<${KV} tags=${Object.entries(l.attributes).map(([key, value]) => ({ key, value }))} />`}
      </div>`)}</div>` : html`<div class="muted">none</div>`}
    <h3>Links (${span.links.length})</h3>
    ${span.links.length ? html`<table class="kv" data-testid="links"><tbody>${span.links.map(l => html`<tr>
        <td>${l.refType === 'FOLLOWS_FROM' ? 'follows from' : l.refType === 'CHILD_OF' ? 'child of' : l.refType}</td>
        <td><${RefLink} traceID=${l.traceID} spanID=${l.spanID} trace=${trace} onGoto=${onGoto} /></td></tr>`)}
      </tbody></table>` : html`<div class="muted">none</div>`}
  </aside>`;
}
