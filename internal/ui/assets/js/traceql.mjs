// TraceQL box for the Search page: a query field with autocomplete of
// attribute names and values from Tempo's tag endpoints, which the query
// port also serves under /api/tempo. Results come from Tempo's /api/search.
import { useState, useEffect, useRef } from '../vendor/preact-hooks.mjs';
import { html, getJSON, normID } from './lib.mjs';

export const TEMPO = '/api/tempo';
const MAX_SUGGESTIONS = 12;

function insideBraces(s) { return s.lastIndexOf('{') > s.lastIndexOf('}'); }

// completionAt says what the text before the caret is completing: a field
// name, or a value after "field op". null: nothing to complete.
export function completionAt(text, pos) {
  const before = text.slice(0, pos);
  if (!insideBraces(before)) return null;
  let m = /([.A-Za-z_][\w.:\-]*)\s*(=~|!~|!=|>=|<=|=|>|<)\s*("?)([^"\s{}()&|]*)$/.exec(before);
  if (m) return { kind: 'value', field: m[1], quoted: m[3] === '"', prefix: m[4], start: pos - m[3].length - m[4].length };
  m = /(?:^|[{\s(&|!])([.A-Za-z_][\w.:\-]*)?$/.exec(before);
  if (m) return { kind: 'field', prefix: m[1] || '', start: pos - (m[1] || '').length };
  return null;
}

// fieldNames turns /api/v2/search/tags scopes into TraceQL field names.
export function fieldNames(scopes) {
  const out = [];
  for (const s of scopes || []) for (const t of s.tags || []) out.push(s.name === 'intrinsic' ? t : `${s.name}.${t}`);
  return out;
}

function rank(list, prefix) {
  const p = prefix.toLowerCase();
  return list.filter(x => x.label.toLowerCase().includes(p))
    .sort((a, b) => (a.label.toLowerCase().startsWith(p) ? 0 : 1) - (b.label.toLowerCase().startsWith(p) ? 0 : 1) || a.label.localeCompare(b.label))
    .slice(0, MAX_SUGGESTIONS);
}

// fromTempo turns one /api/search trace into the Search page's summary.
export function fromTempo(t, q) {
  const stats = Object.entries(t.serviceStats || {});
  return {
    traceID: normID(t.traceID),
    rootService: t.rootServiceName || '',
    rootName: t.rootTraceName || '',
    start: Number(BigInt(t.startTimeUnixNano || '0') / 1000n),
    duration: (t.durationMs || 0) * 1000,
    spanCount: stats.reduce((n, [, s]) => n + (s.spanCount || 0), 0),
    errors: stats.reduce((n, [, s]) => n + (s.errorCount || 0), 0),
    services: stats.map(([name, s]) => ({ name, count: s.spanCount || 0, errors: s.errorCount || 0 })).sort((a, b) => b.count - a.count),
    matched: (t.spanSets || []).reduce((n, s) => n + (s.matched || 0), 0),
    href: `/trace/${normID(t.traceID)}?q=${encodeURIComponent(q)}`,
  };
}

export function TraceQLBox({ value, onRun }) {
  const [text, setText] = useState(value || '');
  const [fields, setFields] = useState([]);
  const [sugg, setSugg] = useState({ list: [], at: null });
  const [active, setActive] = useState(0);
  const inputRef = useRef(null);
  const valueCache = useRef(new Map());
  // typed is the newest text and caret: answers that arrive after more
  // typing complete what is there now, never what was typed then.
  const typed = useRef(null);
  useEffect(() => { setText(value || ''); }, [value]);
  useEffect(() => {
    const ac = new AbortController();
    getJSON(`${TEMPO}/api/v2/search/tags`, ac.signal).then(b => setFields(fieldNames(b.scopes))).catch(() => {});
    return () => ac.abort();
  }, []);
  // Names typed before the tag list arrived are completed once it has.
  useEffect(() => {
    if (typed.current && document.activeElement === inputRef.current) suggest(typed.current.t, typed.current.pos);
  }, [fields]);

  const suggest = (t, pos) => {
    typed.current = { t, pos };
    const at = completionAt(t, pos);
    if (!at) { setSugg({ list: [], at: null }); return; }
    if (at.kind === 'field') {
      setSugg({ list: at.prefix || t.slice(0, pos).trim().endsWith('{') ? rank(fields.map(f => ({ label: f, insert: f })), at.prefix) : [], at });
      setActive(0);
      return;
    }
    const show = vals => {
      const list = vals.map(v => ({ label: v.value, insert: v.type === 'string' ? JSON.stringify(v.value) : v.value }));
      setSugg({ list: rank(list, at.prefix), at });
      setActive(0);
    };
    const cached = valueCache.current.get(at.field);
    if (Array.isArray(cached)) { show(cached); return; }
    if (cached) return; // asked already; its answer completes the newest text
    const asked = getJSON(`${TEMPO}/api/v2/search/tag/${encodeURIComponent(at.field)}/values`);
    valueCache.current.set(at.field, asked);
    asked.then(b => { valueCache.current.set(at.field, b.tagValues || []); },
      () => { valueCache.current.set(at.field, []); })
      .then(() => { if (typed.current) suggest(typed.current.t, typed.current.pos); });
  };
  const accept = item => {
    const el = inputRef.current, pos = el ? el.selectionStart : text.length, at = sugg.at;
    const next = text.slice(0, at.start) + item.insert + (at.kind === 'field' ? ' ' : '') + text.slice(pos);
    setText(next);
    setSugg({ list: [], at: null });
    const caret = at.start + item.insert.length + (at.kind === 'field' ? 1 : 0);
    requestAnimationFrame(() => { if (el) { el.focus(); el.setSelectionRange(caret, caret); } });
  };
  const onKeyDown = e => {
    const n = sugg.list.length;
    if (!n) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); setActive((active + 1) % n); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive((active + n - 1) % n); }
    else if (e.key === 'Tab' || e.key === 'Enter') { e.preventDefault(); accept(sugg.list[active]); }
    else if (e.key === 'Escape') setSugg({ list: [], at: null });
  };
  const submit = e => { e.preventDefault(); setSugg({ list: [], at: null }); if (text.trim()) onRun(text.trim()); };
  return html`<form class="card tql" onSubmit=${submit} data-testid="traceql-form">
    <h3>TraceQL</h3>
    <div class="tql-wrap">
      <input ref=${inputRef} id="f-traceql" class="mono" spellcheck="false" autocomplete="off" aria-label="TraceQL query"
        placeholder='{ .service.name = "gateway" } >> { status = error }' value=${text} data-testid="traceql-input"
        onInput=${e => { setText(e.target.value); suggest(e.target.value, e.target.selectionStart); }}
        onKeyDown=${onKeyDown} onBlur=${() => setTimeout(() => setSugg({ list: [], at: null }), 150)} />
      ${sugg.list.length > 0 && html`<ul class="tql-sugg" role="listbox" data-testid="traceql-suggestions">
        ${sugg.list.map((s, i) => html`<li role="option" aria-selected=${i === active} class=${i === active ? 'active' : ''}
          onMouseDown=${e => { e.preventDefault(); accept(s); }}>${s.label}</li>`)}</ul>`}
    </div>
    <button class="primary" type="submit" disabled=${!text.trim()} data-testid="traceql-run">Run query</button>
    <span class="hint">Spans, structure, pipelines: see TraceQL in the docs. Tab completes names and values.</span>
  </form>`;
}
