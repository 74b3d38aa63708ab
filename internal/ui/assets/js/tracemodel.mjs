// Turns a trace from Jaeger's legacy JSON (GET /api/traces/{id}) into a tree
// the views can walk: parents, children, depth, per-service counts.
import { tagValue } from './lib.mjs';

// Tags Jaeger synthesises from OTLP fields; the detail panel shows them as
// status/kind/scope instead of as attributes.
const SYNTHETIC = new Set(['span.kind', 'otel.status_code', 'otel.status_description', 'otel.scope.name', 'otel.scope.version', 'error']);

export function buildTrace(jt) {
  const procs = jt.processes || {};
  const byId = new Map();
  const spans = (jt.spans || []).map((s, uid) => {
    const proc = procs[s.processID] || s.process || { serviceName: 'unknown_service', tags: [] };
    const tags = s.tags || [];
    const statusCode = tagValue(tags, 'otel.status_code') || '';
    const errTag = tagValue(tags, 'error');
    const span = {
      raw: s,
      uid, // unique even when span IDs repeat
      traceID: s.traceID,
      spanID: s.spanID,
      name: s.operationName,
      service: proc.serviceName || 'unknown_service',
      processTags: proc.tags || [],
      start: s.startTime,
      duration: s.duration,
      end: s.startTime + s.duration,
      tags,
      attributes: tags.filter(t => !SYNTHETIC.has(t.key)),
      logs: s.logs || [],
      kind: tagValue(tags, 'span.kind') || 'internal',
      statusCode,
      statusMessage: tagValue(tags, 'otel.status_description') || '',
      scopeName: tagValue(tags, 'otel.scope.name') || '',
      scopeVersion: tagValue(tags, 'otel.scope.version') || '',
      error: statusCode === 'ERROR' || errTag === true || errTag === 'true',
      references: s.references || [],
      warnings: s.warnings || [],
      parent: null,
      children: [],
      links: [],
      depth: 0,
    };
    if (!byId.has(span.spanID)) byId.set(span.spanID, span);
    return span;
  });

  for (const s of spans) {
    // The parent is the first CHILD_OF reference within this trace that we
    // have; other references are links (FOLLOWS_FROM, other traces).
    let parentRef = s.references.find(r => r.refType === 'CHILD_OF' && r.traceID === s.traceID && byId.has(r.spanID) && r.spanID !== s.spanID);
    if (!parentRef) parentRef = s.references.find(r => r.traceID === s.traceID && byId.has(r.spanID) && r.spanID !== s.spanID && r.refType !== 'FOLLOWS_FROM');
    if (parentRef) {
      s.parent = byId.get(parentRef.spanID);
      s.parent.children.push(s);
    }
    s.links = s.references.filter(r => r !== parentRef);
    s.orphan = !s.parent && s.references.some(r => r.refType === 'CHILD_OF' && r.traceID === s.traceID);
  }
  const byStart = (a, b) => a.start - b.start || a.end - b.end;
  let roots = spans.filter(s => !s.parent).sort(byStart);
  for (const s of spans) s.children.sort(byStart);

  // Pre-order walk; spans in a parent cycle are reachable from no root, so
  // each unreached one is promoted to a root until all are placed.
  const order = [];
  const seen = new Set();
  const walk = root => {
    const stack = [[root, 0]];
    while (stack.length) {
      const [s, d] = stack.pop();
      if (seen.has(s)) continue;
      seen.add(s);
      s.depth = d;
      order.push(s);
      for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], d + 1]);
    }
  };
  roots.forEach(walk);
  for (const s of spans) {
    if (!seen.has(s)) {
      if (s.parent) s.parent.children = s.parent.children.filter(c => c !== s);
      s.parent = null;
      roots.push(s);
      walk(s);
    }
  }
  roots = roots.sort(byStart);
  // Descendant counts, bottom-up over the reversed pre-order.
  for (let i = order.length - 1; i >= 0; i--) {
    const s = order[i];
    s.descendants = s.children.reduce((n, c) => n + 1 + c.descendants, 0);
  }

  let start = Infinity, end = -Infinity, maxDepth = 0, errors = 0;
  const services = new Map();
  for (const s of spans) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
    maxDepth = Math.max(maxDepth, s.depth + 1);
    if (s.error) errors++;
    const sv = services.get(s.service) || { name: s.service, count: 0, errors: 0 };
    sv.count++;
    if (s.error) sv.errors++;
    services.set(s.service, sv);
  }
  if (!spans.length) start = end = 0;
  const root = roots[0];
  return {
    traceID: jt.traceID,
    raw: jt,
    spans: order,
    byId,
    roots,
    root,
    start,
    end,
    duration: end - start,
    depth: maxDepth,
    errors,
    services: [...services.values()].sort((a, b) => a.name.localeCompare(b.name)),
    warnings: jt.warnings || [],
  };
}

// selfTime is a span's duration minus the union of its children's
// intervals, each clipped to the span (async children that outlive it,
// clock skew); the trace analysis API computes the same.
export function selfTime(s) {
  const iv = s.children.map(c => [Math.max(c.start, s.start), Math.min(c.end, s.end)]).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let covered = 0, curA = null, curB = null;
  for (const [a, b] of iv) {
    if (curB === null || a > curB) { if (curB !== null) covered += curB - curA; curA = a; curB = b; } else curB = Math.max(curB, b);
  }
  if (curB !== null) covered += curB - curA;
  return Math.max(0, s.duration - covered);
}

// traceStats is Jaeger's "Trace Statistics": per service and operation (or
// per service with byService), the span count, total, average, minimum and
// maximum duration, the total and average self time, and the self time as a
// share of the trace's duration (the shares add up to the time the trace's
// spans account for).
export function traceStats(trace, { byService = false } = {}) {
  const groups = new Map();
  for (const s of trace.spans) {
    const key = byService ? s.service : `${s.service}\u0000${s.name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { service: s.service, operation: byService ? '' : s.name, count: 0, total: 0, min: Infinity, max: 0, self: 0, errors: 0 });
    const st = selfTime(s);
    g.count++; g.total += s.duration; g.min = Math.min(g.min, s.duration); g.max = Math.max(g.max, s.duration); g.self += st;
    if (s.error) g.errors++;
  }
  return [...groups.values()].map(g => ({ ...g, avg: g.total / g.count, selfAvg: g.self / g.count, selfPct: trace.duration > 0 ? 100 * g.self / trace.duration : 0 }))
    .sort((a, b) => b.self - a.self || a.service.localeCompare(b.service) || a.operation.localeCompare(b.operation));
}

// messageHops lists, per consumer span ID, the producer spans of this trace
// its message came from: its parent when that is a producer (a queue hop
// that continues the trace), and producers it links to (batch consumers).
export function messageHops(trace) {
  const out = new Map();
  for (const s of trace.spans) {
    if (s.kind !== 'consumer') continue;
    const from = [];
    if (s.parent && s.parent.kind === 'producer') from.push({ span: s.parent, via: 'parent' });
    for (const l of s.links) {
      const p = l.traceID === s.traceID ? trace.byId.get(l.spanID) : null;
      if (p && p.kind === 'producer' && !from.some(f => f.span === p)) from.push({ span: p, via: 'link' });
    }
    if (from.length) out.set(s.spanID, from);
  }
  return out;
}

// visibleRows lists the spans shown when the given span IDs are collapsed.
export function visibleRows(trace, collapsed) {
  if (!collapsed.size) return trace.spans;
  const out = [];
  const order = trace.spans;
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    out.push(s);
    if (collapsed.has(s.spanID)) i += s.descendants;
  }
  return out;
}

// matches tells whether a span matches a find-in-trace query: service,
// operation, span ID or any attribute key=value / value substring.
export function spanMatches(s, q) {
  if (!q) return false;
  q = q.toLowerCase();
  if (s.spanID.toLowerCase().startsWith(q)) return true;
  if (s.service.toLowerCase().includes(q) || s.name.toLowerCase().includes(q)) return true;
  const eq = q.indexOf('=');
  for (const t of s.tags) {
    const k = t.key.toLowerCase(), v = String(t.value).toLowerCase();
    if (eq > 0 ? (k === q.slice(0, eq) && v === q.slice(eq + 1)) : (k.includes(q) || v.includes(q))) return true;
  }
  return false;
}
