// Trace view: header, minimap, virtualised waterfall with critical path,
// gaps and the trace's log lines inline, a Logs tab, find-in-trace and the
// span detail panel.
import { useState, useEffect, useMemo, useRef, useLayoutEffect, useCallback } from '../vendor/preact-hooks.mjs';
import { html, getJSON, navigate, fmtDuration, fmtTime, fmtAgo, serviceColor, textOn, niceTicks, copyText, normLogs, normID, sevClass, sevLabel } from './lib.mjs';
import { placeLabels, textWidth } from './layout.mjs';
import { buildTrace, visibleRows, spanMatches, messageHops } from './tracemodel.mjs';
import { SpanDetail } from './spandetail.mjs';
import { StatsTab, FlameTab } from './tracestats.mjs';

const ROW_H = 26;
const OVERSCAN = 12;
// Log lines are shown inline by default when a trace has at most this many.
const INLINE_LOGS_MAX = 200;
export const LOGS_LIMIT = 1000;
// Tabs besides the timeline, named in the URL (?tab=).
const TABS = ['stats', 'flame', 'logs'];
// The name column's width is the user's (dragged, kept in localStorage);
// the timeline keeps at least MIN_TIMELINE pixels.
const NAME_KEY = 'clew.nameColumn';
const MIN_NAME = 160, MIN_TIMELINE = 200;

function savedNameWidth() {
  try { return +localStorage.getItem(NAME_KEY) || 0; } catch (e) { return 0; }
}

export function TracePage({ id, params }) {
  const [data, setData] = useState({ loading: true });
  const t0 = useRef(performance.now());
  useEffect(() => {
    const ac = new AbortController();
    t0.current = performance.now();
    Promise.all([
      getJSON(`/api/traces/${encodeURIComponent(id)}`, ac.signal),
      // The analysis is an extra; the waterfall works without it.
      getJSON(`/api/clew/traces/${encodeURIComponent(id)}/analysis`, ac.signal).catch(e => (e.name === 'AbortError' ? Promise.reject(e) : { failed: e.message })),
      // So are the trace's logs.
      getJSON(`/api/clew/logs?traceID=${encodeURIComponent(id)}&limit=${LOGS_LIMIT}`, ac.signal).catch(e => (e.name === 'AbortError' ? Promise.reject(e) : { failed: e.message })),
      // Opened from a TraceQL search: the spans the query matched.
      params.get('q') ? getJSON(`/api/clew/traceql/traces/${encodeURIComponent(normID(id))}?q=${encodeURIComponent(params.get('q'))}`, ac.signal)
        .catch(e => (e.name === 'AbortError' ? Promise.reject(e) : { failed: e.message })) : null,
    ]).then(([body, analysis, logs, tql]) => {
      const jt = body.data?.[0];
      if (!jt || !jt.spans?.length) { setData({ error: 'Trace not found.', notFound: true }); return; }
      const fetched = performance.now();
      const trace = buildTrace(jt);
      setData({ trace, analysis: analysis.failed ? null : analysis, analysisError: analysis.failed,
        logs: logs.failed ? null : normLogs(logs.logs), logsError: logs.failed,
        tql: tql && !tql.failed ? { q: params.get('q'), ids: new Set((tql.spanIDs || []).map(s => normID(s, 16))) } : null,
        timing: { fetch: fetched - t0.current, build: performance.now() - fetched } });
    }).catch(e => {
      if (e.name === 'AbortError') return;
      setData({ error: e.status === 404 ? `Trace ${id} not found.` : e.message, notFound: e.status === 404 });
    });
    return () => ac.abort();
  }, [id]);

  if (data.loading) return html`<div class="page"><div class="loading">Loading trace ${id}…</div></div>`;
  if (data.error) return html`<div class="page"><div class="card empty" data-testid="trace-error"><h2>${data.notFound ? 'Trace not found' : 'Cannot load trace'}</h2>
    <p>${data.error}</p><p><a href="/search">Back to search</a></p></div></div>`;
  return html`<${TraceView} trace=${data.trace} analysis=${data.analysis} analysisError=${data.analysisError} logs=${data.logs} logsError=${data.logsError}
    timing=${data.timing} t0=${t0.current} params=${params} tql=${data.tql} />`;
}

function index(analysis) {
  const crit = new Map(), gaps = new Map();
  if (analysis) {
    for (const s of analysis.criticalPath || []) (crit.get(s.spanID) || crit.set(s.spanID, []).get(s.spanID)).push(s);
    for (const g of analysis.gaps || []) (gaps.get(g.spanID) || gaps.set(g.spanID, []).get(g.spanID)).push(g);
  }
  return { crit, gaps };
}

// indexLogs groups log lines by the span they were written under (span IDs
// normalised to 16 digits); lines with no span of this trace are "other".
function indexLogs(trace, logs) {
  const bySpan = new Map(), other = [];
  const known = new Set(trace.spans.map(s => normID(s.spanID, 16)));
  for (const l of logs || []) {
    if (l.spanId && known.has(l.spanId)) (bySpan.get(l.spanId) || bySpan.set(l.spanId, []).get(l.spanId)).push(l);
    else other.push(l);
  }
  for (const list of bySpan.values()) list.sort((a, b) => a.t - b.t);
  return { bySpan, other, of: s => bySpan.get(normID(s.spanID, 16)) };
}

function TraceView({ trace, analysis, analysisError, logs, logsError, timing, t0, params, tql }) {
  const [collapsed, setCollapsed] = useState(() => new Set());
  const [selected, setSelected] = useState(() => params.get('span') || null);
  const [view, setView] = useState([0, 1]); // visible fraction of the trace
  const [find, setFind] = useState('');
  const [matchIdx, setMatchIdx] = useState(0);
  const [showCrit, setShowCrit] = useState(true);
  const [showGaps, setShowGaps] = useState(true);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewportH, setViewportH] = useState(600);
  const [rowsW, setRowsW] = useState(1000); // the rows' inner width
  const [scrollbarW, setScrollbarW] = useState(0);
  const [nameW, setNameW] = useState(savedNameWidth);
  const [tab, setTab] = useState(() => TABS.includes(params.get('tab')) ? params.get('tab') : 'timeline');
  const logIdx = useMemo(() => indexLogs(trace, logs), [trace, logs]);
  // Spans whose log lines are shown inline under them.
  const [logsOpen, setLogsOpen] = useState(() => new Set(logs && logs.length <= INLINE_LOGS_MAX ? logIdx.bySpan.keys() : []));
  const rowsRef = useRef(null);
  const findRef = useRef(null);
  const marks = useMemo(() => index(analysis), [analysis]);
  const hops = useMemo(() => messageHops(trace), [trace]);
  const rows = useMemo(() => visibleRows(trace, collapsed), [trace, collapsed]);
  const rowIndex = useMemo(() => new Map(rows.map((s, i) => [s.spanID, i])), [rows]);
  // What the waterfall draws: span rows, each followed by its log lines when
  // they are open. Keyboard navigation moves over spans only.
  const items = useMemo(() => {
    if (!logsOpen.size) return rows;
    const out = [];
    for (const s of rows) {
      out.push(s);
      const ls = logsOpen.has(normID(s.spanID, 16)) && logIdx.of(s);
      if (ls) for (const l of ls) out.push({ log: l, span: s });
    }
    return out;
  }, [rows, logsOpen, logIdx]);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  // Find-in-trace matches; with the box empty, the spans of the TraceQL
  // query the trace was opened from.
  const matches = useMemo(() => find.trim() ? trace.spans.filter(s => spanMatches(s, find.trim()))
    : tql ? trace.spans.filter(s => tql.ids.has(normID(s.spanID, 16))) : [], [trace, find, tql]);
  const matchSet = useMemo(() => new Set(matches.map(s => s.spanID)), [matches]);
  const sel = selected ? trace.byId.get(selected) : null;

  // Report how long the trace took to show (fetch + build + first paint of
  // the rows); the browser test reads it, people can see it in the tooltip.
  const [renderMs, setRenderMs] = useState(null);
  useEffect(() => {
    requestAnimationFrame(() => setRenderMs(Math.round(performance.now() - t0)));
  }, []);

  useLayoutEffect(() => {
    const el = rowsRef.current;
    if (!el) return;
    const measure = () => { setViewportH(el.clientHeight); setRowsW(el.clientWidth); setScrollbarW(el.offsetWidth - el.clientWidth); };
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    measure();
    return () => ro.disconnect();
  }, []);
  const nameCol = Math.round(Math.max(MIN_NAME, Math.min(rowsW - MIN_TIMELINE, nameW || Math.min(520, Math.max(260, rowsW * 0.34)))));
  const tlW = Math.max(1, rowsW - nameCol);
  const fonts = useMemo(() => {
    const family = getComputedStyle(document.body).fontFamily;
    return { lbl: `600 11px ${family}`, gap: `bold 10px ${family}` };
  }, []);

  // Reads the rows through a ref: after a state change (expand, tab) it runs
  // in the next frame, once the new rows are rendered.
  const scrollToSpan = useCallback(spanID => {
    const el = rowsRef.current;
    const i = itemsRef.current.findIndex(s => s.spanID === spanID);
    if (!el || i < 0) return;
    const top = i * ROW_H;
    if (top < el.scrollTop || top + ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = Math.max(0, top - el.clientHeight / 3);
  }, []);

  // Expands the ancestors of a span so it is visible, then selects it.
  const reveal = useCallback((span, { keepTab = false } = {}) => {
    let next = collapsed;
    for (let p = span.parent; p; p = p.parent) {
      if (next.has(p.spanID)) { if (next === collapsed) next = new Set(collapsed); next.delete(p.spanID); }
    }
    if (next !== collapsed) setCollapsed(next);
    select(span.spanID);
    if (!keepTab) showTab('timeline');
    // Rows are re-rendered by then; scroll to the span's row.
    requestAnimationFrame(() => scrollToSpan(span.spanID));
  }, [collapsed, trace, scrollToSpan]);

  const setParam = (k, v) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v); else p.delete(k);
    const qs = p.toString();
    history.replaceState(null, '', location.pathname + (qs ? `?${qs}` : ''));
  };
  const select = spanID => { setSelected(spanID); setParam('span', spanID); };
  // The tab is part of the URL, so a link can open the Logs tab.
  const showTab = t => { setTab(t); setParam('tab', t === 'timeline' ? null : t); };
  const toggleLogs = span => {
    const k = normID(span.spanID, 16), next = new Set(logsOpen);
    if (next.has(k)) next.delete(k); else next.add(k);
    setLogsOpen(next);
  };
  const allLogsOpen = logIdx.bySpan.size > 0 && logsOpen.size === logIdx.bySpan.size;

  // gotoRef follows a reference (a link, a message hop): a span of this
  // trace is revealed and selected here, another trace is opened.
  const gotoRef = (traceID, spanID) => {
    const s = normID(traceID) === normID(trace.traceID) ? trace.byId.get(spanID) || trace.spans.find(x => normID(x.spanID, 16) === normID(spanID, 16)) : null;
    if (s) reveal(s);
    else navigate(`/trace/${traceID}?span=${spanID}`);
  };

  // A deep link to a span reveals it once.
  useEffect(() => { if (sel) reveal(sel, { keepTab: true }); }, []);

  const toggle = span => {
    const next = new Set(collapsed);
    if (next.has(span.spanID)) next.delete(span.spanID); else next.add(span.spanID);
    setCollapsed(next);
  };
  const collapseAll = () => setCollapsed(new Set(trace.spans.filter(s => s.children.length && s.parent).map(s => s.spanID)));
  const expandAll = () => setCollapsed(new Set());

  const gotoMatch = dir => {
    if (!matches.length) return;
    const i = ((matchIdx + dir) % matches.length + matches.length) % matches.length;
    setMatchIdx(i);
    reveal(matches[i]);
  };

  const onKey = e => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    const i = sel ? (rowIndex.get(sel.spanID) ?? -1) : -1;
    const go = j => { if (rows[j]) { select(rows[j].spanID); scrollToSpan(rows[j].spanID); } };
    switch (e.key) {
      case 'ArrowDown': case 'j': go(Math.min(rows.length - 1, i + 1)); break;
      case 'ArrowUp': case 'k': go(Math.max(0, i - 1)); break;
      case 'ArrowRight': case 'l': if (sel && collapsed.has(sel.spanID)) toggle(sel); else if (sel?.children.length) go(i + 1); break;
      case 'ArrowLeft': case 'h': if (sel && sel.children.length && !collapsed.has(sel.spanID)) toggle(sel); else if (sel?.parent) go(rowIndex.get(sel.parent.spanID)); break;
      case 'Enter': case ' ': if (sel && sel.children.length) toggle(sel); break;
      case 'Escape': select(null); break;
      case '/': findRef.current?.focus(); break;
      default: return;
    }
    e.preventDefault();
  };
  useEffect(() => {
    const k = e => { if (e.key === '/' && e.target === document.body) { findRef.current?.focus(); e.preventDefault(); } };
    document.addEventListener('keydown', k);
    return () => document.removeEventListener('keydown', k);
  }, []);

  const vStart = trace.start + view[0] * trace.duration;
  const vDur = Math.max(1, (view[1] - view[0]) * trace.duration);
  const pct = t => 100 * (t - vStart) / vDur;
  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scrollTop + viewportH) / ROW_H) + OVERSCAN);
  const ticks = niceTicks(vStart - trace.start, vStart - trace.start + vDur, 6).filter(v => v >= vStart - trace.start && v <= vStart - trace.start + vDur);
  const root = trace.root;
  const download = () => {
    const blob = new Blob([JSON.stringify({ data: [trace.raw], total: 0, limit: 0, offset: 0, errors: null }, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `trace-${trace.traceID}.json`;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  };

  return html`<div class="trace" data-testid="trace-view" data-render-ms=${renderMs} data-span-count=${trace.spans.length}>
    <div class="trace-head">
      <h1><span data-testid="trace-title">${root.service}: ${root.name}</span>
        <span class="tid">${trace.traceID}</span><button class="icon" onClick=${() => copyText(trace.traceID)} aria-label="Copy trace ID" title="Copy trace ID">Copy</button></h1>
      <div class="stats">
        <div class="stat"><b data-testid="trace-start">${fmtTime(trace.start)}</b><span>Start · <span data-testid="trace-ago">${fmtAgo(trace.start)}</span></span></div>
        <div class="stat"><b data-testid="trace-duration">${fmtDuration(trace.duration)}</b><span>Duration</span></div>
        <div class="stat"><b>${trace.services.length}</b><span>Services</span></div>
        <div class="stat"><b>${trace.depth}</b><span>Depth</span></div>
        <div class="stat"><b data-testid="trace-spans">${trace.spans.length}</b><span>Spans</span></div>
        <div class="stat"><b class=${trace.errors ? 'err-text' : ''}>${trace.errors}</b><span>Errors</span></div>
        ${analysis && html`<div class="stat"><b>${analysis.gaps.length}</b><span>Gaps</span></div>`}
        ${logs && html`<div class="stat"><b data-testid="trace-logs">${logs.length}${logs.length >= LOGS_LIMIT ? '+' : ''}</b><span>Logs</span></div>`}
        <div style="display:flex;gap:4px;flex-wrap:wrap;max-width:520px">${trace.services.map(s => html`<span class="svc"><i style="background:${serviceColor(s.name)}"></i>${s.name} ${s.count}</span>`)}</div>
      </div>
      <div class="toolbar" data-tab=${tab}>
        ${tab === 'timeline' && html`<input class="find" ref=${findRef} placeholder="Find in trace (/) — name, service, key=value" value=${find} data-testid="find"
          onInput=${e => { setFind(e.target.value); setMatchIdx(-1); }}
          onKeyDown=${e => { if (e.key === 'Enter') { gotoMatch(e.shiftKey ? -1 : 1); e.preventDefault(); } if (e.key === 'Escape') { setFind(''); e.target.blur(); } }} />
        ${!find && tql && html`<span class="badge" data-testid="traceql-count" title=${tql.q}>TraceQL: ${matches.length} span${matches.length === 1 ? '' : 's'}</span>
          <button class="icon" onClick=${() => gotoMatch(-1)} aria-label="Previous match">▲</button><button class="icon" onClick=${() => gotoMatch(1)} aria-label="Next match">▼</button>`}
        ${find && html`<span class="muted" data-testid="find-count">${matches.length ? `${matchIdx >= 0 ? matchIdx + 1 : '–'} of ${matches.length}` : 'no match'}</span>
          <button class="icon" onClick=${() => gotoMatch(-1)} aria-label="Previous match">▲</button><button class="icon" onClick=${() => gotoMatch(1)} aria-label="Next match">▼</button>`}
        <button onClick=${expandAll}>Expand all</button>
        <button onClick=${collapseAll} data-testid="collapse-all">Collapse all</button>
        ${(view[0] > 0 || view[1] < 1) && html`<button onClick=${() => setView([0, 1])} data-testid="reset-zoom">Reset zoom</button>`}`}
        <div class="spacer"></div>
        ${tab === 'timeline' && logs && logs.length > 0 && html`<label class="toggle" title="Show each span's log lines under it"><input type="checkbox" checked=${allLogsOpen} data-testid="logs-inline"
          onChange=${e => setLogsOpen(new Set(e.target.checked ? logIdx.bySpan.keys() : []))} /><span class="legend"><span class="logm"></span>Logs inline</span></label>`}
        ${tab !== 'timeline' ? '' : analysis ? html`
          <label class="toggle"><input type="checkbox" checked=${showCrit} onChange=${e => setShowCrit(e.target.checked)} /><span class="legend"><span class="crit"></span>Critical path</span></label>
          <label class="toggle"><input type="checkbox" checked=${showGaps} onChange=${e => setShowGaps(e.target.checked)} /><span class="legend"><span class="gap"></span>Gaps</span></label>`
          : html`<span class="muted" title=${analysisError || ''}>analysis unavailable</span>`}
        <a href="/compare?a=${trace.traceID}"><button>Compare…</button></a>
        <button onClick=${download} data-testid="download">Download JSON</button>
      </div>
    </div>
    <div class="tabs" role="tablist">
      <button role="tab" aria-selected=${tab === 'timeline'} class=${tab === 'timeline' ? 'active' : ''} onClick=${() => showTab('timeline')} data-testid="tab-timeline">Timeline</button>
      <button role="tab" aria-selected=${tab === 'stats'} class=${tab === 'stats' ? 'active' : ''} onClick=${() => showTab('stats')} data-testid="tab-stats">Statistics</button>
      <button role="tab" aria-selected=${tab === 'flame'} class=${tab === 'flame' ? 'active' : ''} onClick=${() => showTab('flame')} data-testid="tab-flame">Flame graph</button>
      <button role="tab" aria-selected=${tab === 'logs'} class=${tab === 'logs' ? 'active' : ''} onClick=${() => showTab('logs')} data-testid="tab-logs">
        Logs <span class="badge muted">${logs ? logs.length : '–'}</span></button>
      ${!logs && html`<span class="muted" title=${logsError || ''}>logs unavailable</span>`}
    </div>
    <div class="trace-body">
      ${tab === 'stats' && html`<${StatsTab} trace=${trace} />`}
      ${tab === 'flame' && html`<${FlameTab} trace=${trace} selected=${selected} onSelect=${span => reveal(span)} />`}
      ${tab === 'logs' && html`<${LogsTab} trace=${trace} logs=${logs} logsError=${logsError} logIdx=${logIdx} selected=${selected}
        onSpan=${span => reveal(span)} />`}
      <div class="wf" style="--name-w:${nameCol}px;${tab !== 'timeline' ? 'display:none' : ''}">
        <${Minimap} trace=${trace} view=${view} setView=${setView} />
        <div class="wf-main">
        <${Splitter} left=${nameCol} onMove=${w => setNameW(Math.max(MIN_NAME, Math.min(rowsW - MIN_TIMELINE, w)))}
          onDone=${w => { try { if (w) localStorage.setItem(NAME_KEY, String(Math.round(w))); else localStorage.removeItem(NAME_KEY); } catch (e) { /* private mode */ } if (!w) setNameW(0); }} />
        <div class="axis-row" style="padding-right:${scrollbarW}px"><div class="namecol"><span>Service & operation</span><span class="muted">${rows.length < trace.spans.length ? `${rows.length} of ${trace.spans.length} shown` : ''}</span></div>
          <div class="ticks">${ticks.map((v, i) => html`<span class=${i && pct(v + trace.start) > 95 ? 'last' : ''} style="left:${pct(v + trace.start)}%">${fmtDuration(v)}</span>`)}</div></div>
        <div class="rows" ref=${rowsRef} tabindex="0" role="tree" aria-label="Spans" onKeyDown=${onKey} data-testid="rows"
          onScroll=${e => setScrollTop(e.currentTarget.scrollTop)}>
          <div style="height:${items.length * ROW_H}px;position:relative">
            ${items.slice(first, last).map((s, k) => s.log ? html`<${LogRow} key=${'l' + s.log.uid} log=${s.log} span=${s.span} top=${(first + k) * ROW_H} pct=${pct}
              traceStart=${trace.start} onSelect=${() => select(s.span.spanID)} />` : html`<${Row} key=${s.uid} span=${s} top=${(first + k) * ROW_H} pct=${pct}
              logs=${logIdx.of(s)} logsOpen=${logsOpen.has(normID(s.spanID, 16))} onToggleLogs=${toggleLogs}
              collapsed=${collapsed.has(s.spanID)} selected=${s.spanID === selected} match=${matchSet.has(s.spanID)}
              crit=${showCrit ? marks.crit.get(s.spanID) : null} gaps=${showGaps ? marks.gaps.get(s.spanID) : null}
              ticks=${ticks} traceStart=${trace.start} tlW=${tlW} fonts=${fonts} hops=${hops.get(s.spanID)} onGoto=${gotoRef}
              onToggle=${toggle} onSelect=${sp => select(sp.spanID === selected ? null : sp.spanID)} />`)}
          </div>
        </div>
        </div>
      </div>
      ${sel && html`<${SpanDetail} key=${sel.spanID} span=${sel} trace=${trace} analysis=${analysis} logs=${logIdx.of(sel)} hops=${hops.get(sel.spanID)}
        onGoto=${gotoRef} onClose=${() => { select(null); rowsRef.current?.focus(); }} />`}
    </div>
  </div>`;
}

// Splitter is the draggable edge of the name column (double-click: back to
// the default width).
function Splitter({ left, onMove, onDone }) {
  const drag = useRef(null);
  const down = e => {
    e.preventDefault();
    e.currentTarget.setPointerCapture?.(e.pointerId);
    drag.current = { x: e.clientX, w: left, last: left };
  };
  const move = e => {
    const d = drag.current;
    if (!d) return;
    d.last = d.w + e.clientX - d.x;
    onMove(d.last);
  };
  const up = () => {
    const d = drag.current;
    drag.current = null;
    if (d) onDone(d.last === d.w ? left : d.last);
  };
  return html`<div class="splitter" style="left:${left - 3}px" data-testid="splitter" role="separator" aria-orientation="vertical"
    aria-label="Resize the name column" title="Drag to resize the name column; double-click to reset"
    onPointerDown=${down} onPointerMove=${move} onPointerUp=${up} onPointerCancel=${up} onDblClick=${() => onDone(0)}></div>`;
}

// Short names of span kinds for the rows (internal spans get none).
const KIND_TAG = { server: 'server', client: 'client', producer: 'producer', consumer: 'consumer' };

function Row({ span: s, top, pct, collapsed, selected, match, crit, gaps, ticks, traceStart, tlW, fonts, hops, onGoto, onToggle, onSelect, logs, logsOpen, onToggleLogs }) {
  const worst = logs ? Math.max(...logs.map(l => l.severityNumber || 0)) : 0;
  const left = pct(s.start), right = pct(s.end);
  const width = Math.max(right - left, 0.05);
  const color = serviceColor(s.service);
  // Labels are placed in pixels: inside the bar when it holds them, beside
  // it otherwise, never clipped or on top of each other.
  const px = v => v * tlW / 100;
  const durText = fmtDuration(s.duration);
  const gapBoxes = (gaps || []).map(g => ({ x0: px(pct(g.start)), x1: px(pct(g.end)), w: textWidth(`${fmtDuration(g.duration)} gap`, fonts.gap) + 6 }));
  const avoid = (hops || []).map(h => [px(Math.min(pct(h.span.start), left)), px(Math.max(pct(h.span.start), left))]);
  const place = placeLabels(tlW, [px(left), px(left + width)], textWidth(durText, fonts.lbl), gapBoxes, avoid);
  return html`<div class="row ${selected ? 'sel' : ''} ${match ? 'match' : ''}" style="top:${top}px" role="treeitem"
      aria-selected=${selected} aria-expanded=${s.children.length ? !collapsed : undefined} aria-level=${s.depth + 1}
      data-span-id=${s.spanID} data-testid="row" onClick=${() => onSelect(s)}>
    <div class="namecol" style="padding-left:${4 + Math.min(s.depth, 24) * 14}px">
      <span class="tw" data-testid=${s.children.length ? 'toggle' : undefined}
        onClick=${e => { if (s.children.length) { e.stopPropagation(); onToggle(s); } }}>${s.children.length ? (collapsed ? '▸' : '▾') : ''}</span>
      <span class="sbar" style="background:${color}"></span>
      ${s.error && html`<span class="errdot" title="error" data-testid="row-error">!</span>`}
      <span class="sname">${s.service}</span><span class="oname" title=${s.name}>${s.name}</span>
      ${KIND_TAG[s.kind] && html`<span class="kind kind-${s.kind}" data-testid="kind" title="span kind: ${s.kind}">${KIND_TAG[s.kind]}</span>`}
      ${s.links.length > 0 && html`<span class="linkm" data-testid="link-marker" role="button"
        title="${s.links.length} span link${s.links.length === 1 ? '' : 's'}: ${s.links.map(l => `${l.traceID === s.traceID ? 'this trace' : l.traceID.slice(0, 8) + '…'} / ${l.spanID}`).join(', ')} — click to follow"
        onClick=${e => { e.stopPropagation(); if (s.links.length === 1) onGoto(s.links[0].traceID, s.links[0].spanID); else onSelect(s); }}>↪ ${s.links.length}</span>`}
      ${collapsed && html`<span class="cnt" title="hidden descendants">+${s.descendants}</span>`}
      ${logs && html`<span class="logcnt sev-${sevClass(worst)} ${logsOpen ? 'open' : ''}" data-testid="log-badge" role="button" aria-expanded=${logsOpen}
        title="${logs.length} log line${logs.length === 1 ? '' : 's'} — click to ${logsOpen ? 'hide' : 'show'}"
        onClick=${e => { e.stopPropagation(); onToggleLogs(s); }}>${logsOpen ? '▾' : '▸'} ${logs.length} log${logs.length === 1 ? '' : 's'}</span>`}
    </div>
    <div class="tl">
      ${ticks.map(v => html`<i class="grid" style="left:${pct(v + traceStart)}%"></i>`)}
      <div class="bar ${s.error ? 'err' : ''}" style="left:${left}%;width:${width}%;background:${color}" title="${s.name}: ${fmtDuration(s.duration)}"></div>
      ${gaps && gaps.map((g, i) => html`<div class="gapm" data-testid="gap" title="Uninstrumented gap: ${fmtDuration(g.duration)}"
        style="left:${pct(g.start)}%;width:${pct(g.end) - pct(g.start)}%">${place.gaps[i] != null ? html`<span data-testid="gap-label" style="left:${place.gaps[i] - gapBoxes[i].x0}px">${fmtDuration(g.duration)} gap</span>` : ''}</div>`)}
      ${hops && hops.map(h => {
        // The message's way from the producer's start to this consumer's
        // start: a dashed arrow (solid head), its wait written on it.
        const a = pct(h.span.start), b = pct(s.start), wait = s.start - h.span.start;
        const x0 = px(Math.min(a, b)), x1 = px(Math.max(a, b));
        const label = `${h.via === 'link' ? 'link' : 'queue'} ${fmtDuration(wait)}`;
        return html`<div class="hop ${h.via}" data-testid="hop" data-via=${h.via} style="left:${x0}px;width:${Math.max(x1 - x0, 6)}px"
            title="Message from ${h.span.service}: ${h.span.name} (${h.via === 'link' ? 'span link' : 'parent'}), ${fmtDuration(wait)} after it started — click to go there"
            onClick=${e => { e.stopPropagation(); onGoto(h.span.traceID, h.span.spanID); }}>
          ${x1 - x0 > textWidth(label, fonts.lbl) + 14 && html`<span>${label}</span>`}</div>`;
      })}
      ${crit && crit.map(c => html`<div class="crit" data-testid="crit" style="left:${pct(c.start)}%;width:${Math.max(pct(c.end) - pct(c.start), 0.05)}%"></div>`)}
      ${s.logs.map(l => html`<div class="evt" style="left:${pct(l.timestamp)}%"></div>`).slice(0, 50)}
      ${logs && logs.slice(0, 50).map(l => html`<div class="logtick sev-${sevClass(l.severityNumber)}" style="left:${pct(l.t)}%"></div>`)}
      ${place.dur && html`<span class="lbl ${place.dur.inside ? 'in' : ''} ${place.dur.crowded ? 'crowded' : ''}" data-testid="dur-label" data-inside=${place.dur.inside}
        style="left:${place.dur.x}px${place.dur.inside ? `;color:${textOn(color)}` : ''}">${durText}</span>`}
    </div>
  </div>`;
}

// LogRow is one log line inline under its span: severity, offset from the
// trace start, a mark at its time and the body.
function LogRow({ log: l, span: s, top, pct, traceStart, onSelect }) {
  const x = pct(l.t), cls = sevClass(l.severityNumber);
  return html`<div class="row logrow sev-${cls}" style="top:${top}px" data-testid="log-row" data-severity=${cls} data-span-id=${s.spanID} onClick=${onSelect}
      title=${fmtTime(l.t)}>
    <div class="namecol" style="padding-left:${4 + Math.min(s.depth + 1, 25) * 14 + 16}px">
      <span class="sev sev-${cls}">${sevLabel(l)}</span><span class="muted mono">+${fmtDuration(l.t - traceStart)}</span>
    </div>
    <div class="tl">
      ${x >= 0 && x <= 100 && html`<i class="logmark sev-${cls}" style="left:${x}%"></i>`}
      ${x <= 55 ? html`<span class="logbody" style="left:calc(${Math.max(x, 0)}% + 8px);right:6px">${l.body}</span>`
        : html`<span class="logbody" style="right:calc(${100 - Math.min(x, 100)}% + 8px);left:6px;text-align:right">${l.body}</span>`}
    </div>
  </div>`;
}

function Attrs({ attrs }) {
  const keys = Object.keys(attrs || {}).sort();
  return keys.map(k => html`<span class="kvchip"><b>${k}</b>=${String(attrs[k])}</span>`);
}

// LogsTab lists every log line of the trace in time order; each links to
// its span.
function LogsTab({ trace, logs, logsError, logIdx, selected, onSpan }) {
  const [q, setQ] = useState('');
  const [minSev, setMinSev] = useState(0);
  if (!logs) return html`<div class="logs-tab"><div class="card empty"><h2>Logs unavailable</h2><p>${logsError || 'The logs API did not answer.'}</p></div></div>`;
  const spanOf = new Map(trace.spans.map(s => [normID(s.spanID, 16), s]));
  const ql = q.trim().toLowerCase();
  const shown = logs.filter(l => (l.severityNumber || 0) >= minSev && (!ql || l.body.toLowerCase().includes(ql) || l.service.toLowerCase().includes(ql) ||
    Object.entries(l.attributes).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(ql)))).sort((a, b) => a.t - b.t);
  return html`<div class="logs-tab" data-testid="logs-tab">
    <div class="logs-tools">
      <input placeholder="Filter: body, service, key=value" value=${q} onInput=${e => setQ(e.target.value)} aria-label="Filter log lines" />
      <select value=${minSev} onChange=${e => setMinSev(+e.target.value)} aria-label="Minimum severity">
        ${[[0, 'All severities'], [5, 'DEBUG+'], [9, 'INFO+'], [13, 'WARN+'], [17, 'ERROR+']].map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
      <span class="muted">${shown.length} of ${logs.length} line${logs.length === 1 ? '' : 's'}${logs.length >= LOGS_LIMIT ? ` (the first ${LOGS_LIMIT})` : ''}</span>
    </div>
    ${logs.length === 0 ? html`<div class="card empty"><h2>No logs for this trace</h2><p>Log records that carry this trace's ID (OTLP <code>trace_id</code>) show up here and under their spans.</p></div>`
    : html`<table class="logtable"><thead><tr><th>Time</th><th>Service</th><th>Severity</th><th>Message</th><th>Span</th></tr></thead><tbody>
      ${shown.map(l => {
        const s = spanOf.get(l.spanId);
        return html`<tr class="sev-${sevClass(l.severityNumber)} ${s && s.spanID === selected ? 'sel' : ''}" data-testid="log-line">
          <td class="mono nowrap" title=${fmtTime(l.t)}>${fmtTime(l.t).slice(11)}<div class="muted">+${fmtDuration(l.t - trace.start)}</div></td>
          <td><span class="svc"><i style="background:${serviceColor(l.service)}"></i>${l.service}</span></td>
          <td><span class="sev sev-${sevClass(l.severityNumber)}">${sevLabel(l)}</span></td>
          <td><div class="logmsg">${l.body}</div><div class="chips"><${Attrs} attrs=${l.attributes} /></div></td>
          <td class="nowrap">${s ? html`<a href="/trace/${trace.traceID}?span=${s.spanID}" data-testid="log-span-link"
              onClick=${e => { if (!(e.metaKey || e.ctrlKey || e.shiftKey || e.button)) { e.preventDefault(); onSpan(s); } }}>${s.name}</a>`
            : html`<span class="muted">${l.spanId ? `${l.spanId} (not in trace)` : 'no span'}</span>`}</td></tr>`;
      })}</tbody></table>`}
  </div>`;
}

// Minimap draws every span compressed into a strip; dragging selects the
// time range the waterfall shows.
function Minimap({ trace, view, setView }) {
  const canvasRef = useRef(null);
  const boxRef = useRef(null);
  const [brush, setBrush] = useState(null);
  useLayoutEffect(() => {
    const c = canvasRef.current;
    const draw = () => {
      const w = c.clientWidth, h = c.clientHeight, dpr = window.devicePixelRatio || 1;
      c.width = w * dpr; c.height = h * dpr;
      const ctx = c.getContext('2d');
      ctx.scale(dpr, dpr);
      // One thin line per span, as in the waterfall: a few spans must not
      // fill the strip (a single span used to draw one solid block).
      const n = trace.spans.length, pitch = Math.min(h / n, 6), barH = Math.max(1, Math.min(pitch - 1, 4));
      const top = (h - pitch * n) / 2;
      trace.spans.forEach((s, i) => {
        ctx.fillStyle = serviceColor(s.service);
        const x = w * (s.start - trace.start) / (trace.duration || 1);
        ctx.fillRect(x, top + i * pitch, Math.max(1, w * s.duration / (trace.duration || 1)), barH);
      });
    };
    draw();
    const ro = new ResizeObserver(draw);
    ro.observe(c);
    return () => ro.disconnect();
  }, [trace]);
  const frac = e => {
    const r = boxRef.current.getBoundingClientRect();
    return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  };
  const down = e => {
    const a = frac(e);
    e.currentTarget.setPointerCapture?.(e.pointerId);
    setBrush([a, a]);
  };
  const move = e => { if (brush) setBrush([brush[0], frac(e)]); };
  const up = () => {
    if (!brush) return;
    const lo = Math.min(...brush), hi = Math.max(...brush);
    setBrush(null);
    if (hi - lo > 0.005) setView([lo, hi]); else setView([0, 1]);
  };
  return html`<div class="minimap" ref=${boxRef} onPointerDown=${down} onPointerMove=${move} onPointerUp=${up} data-testid="minimap"
      title="Drag to zoom into a time range; click to reset">
    <canvas ref=${canvasRef}></canvas>
    ${(view[0] > 0 || view[1] < 1) && html`<div class="shade" style="left:0;width:${view[0] * 100}%"></div><div class="shade" style="left:${view[1] * 100}%;right:0"></div>
      <div class="view" style="left:${view[0] * 100}%;width:${(view[1] - view[0]) * 100}%"></div>`}
    ${brush && html`<div class="brush" style="left:${Math.min(...brush) * 100}%;width:${Math.abs(brush[1] - brush[0]) * 100}%"></div>`}
  </div>`;
}
