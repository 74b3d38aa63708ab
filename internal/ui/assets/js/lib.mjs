// Shared helpers: rendering, routing, formatting, colours and API access.
import { h } from '../vendor/preact.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);

// navigate changes the client route; App listens for 'clew:navigate'.
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event('clew:navigate'));
}

// Durations arrive in microseconds (Jaeger's legacy unit).
export function fmtDuration(us) {
  if (us == null || isNaN(us)) return '';
  const a = Math.abs(us);
  if (a < 1) return '0';
  if (a < 1000) return `${Math.round(us)}µs`;
  if (a < 1e6) return `${trim(us / 1000)}ms`;
  if (a < 60e6) return `${trim(us / 1e6)}s`;
  const m = Math.floor(a / 60e6), s = Math.round((a % 60e6) / 1e6);
  return `${us < 0 ? '-' : ''}${m}m${s ? ` ${s}s` : ''}`;
}
function trim(x) {
  const a = Math.abs(x);
  return a >= 100 ? Math.round(x).toString() : a >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '');
}

// One time format everywhere: 24-hour clock, ISO date, in the browser's
// time zone, which fmtTime names (Jaeger shows local time the same way).
const pad = (n, w = 2) => String(n).padStart(w, '0');
export function fmtTime(us, { zone = true } = {}) {
  const d = new Date(us / 1000);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return zone ? `${s} ${tzName(d)}` : s;
}

// fmtClock is the time of day, 24-hour: "14:57:00" (or "14:57").
export function fmtClock(us, seconds = true) {
  const d = new Date(us / 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
}

// tzName is the browser's short zone name at d ("UTC", "CET", "GMT+2").
export function tzName(d = new Date()) {
  try {
    const p = new Intl.DateTimeFormat('en-GB', { timeZoneName: 'short' }).formatToParts(d).find(x => x.type === 'timeZoneName');
    if (p) return p.value;
  } catch (e) { /* very old browser */ }
  const off = -d.getTimezoneOffset();
  return `UTC${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

// fmtWhen is an absolute time for lists: the time of day with the zone,
// and the date too unless it is today ("14:57:00 CET", "2026-11-29 14:57:00 CET").
export function fmtWhen(us) {
  const d = new Date(us / 1000), now = new Date();
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  const s = fmtTime(us, { zone: false }).slice(0, 19);
  return `${today ? s.slice(11) : s} ${tzName(d)}`;
}

export function fmtAgo(us) {
  const s = (Date.now() - us / 1000) / 1000;
  if (s < 5) return 'just now';
  if (s < 90) return `${Math.round(s)}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 129600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// Parses "1.5s", "200ms", "300us", "2m" (Go duration syntax, one unit) to µs.
export function parseDuration(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*$/.exec(s || '');
  if (!m) return null;
  const f = { ns: 1e-3, us: 1, 'µs': 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 }[m[2]];
  return parseFloat(m[1]) * f;
}

// Service colours: a categorical palette, Okabe & Ito's seven colour-blind
// safe colours (black left out: unreadable on the dark theme) and three more
// picked to keep every pair apart for normal, deuteranope and protanope vision
// (CIEDE2000 ≥ 20 / ≥ 11; see docs/ui.md). None is close to the error red.
export const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#bbccbb', '#776677', '#8877ff'];

function nameHash(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

// assignColors maps each name to a palette index: its hash picks a preferred
// colour, and a colour already taken goes to the next free one, so the first
// PALETTE.length names (in name order) never share a colour. The result
// depends only on the set of names, so every page agrees.
export function assignColors(names) {
  const out = new Map(), used = new Set();
  const sorted = [...new Set(names)].sort();
  sorted.forEach((name, k) => {
    if (k % PALETTE.length === 0) used.clear(); // a new round once all are taken
    let i = nameHash(name) % PALETTE.length;
    while (used.has(i)) i = (i + 1) % PALETTE.length;
    used.add(i);
    out.set(name, i);
  });
  return out;
}

// The services the server knows (GET /api/services, loaded by the app at
// start): their colours are assigned together; other names fall back to
// their hash alone.
let known = new Map();
export function setKnownServices(names) { known = assignColors(names || []); }

export function serviceColor(name) {
  return PALETTE[known.get(name) ?? nameHash(name || '') % PALETTE.length];
}

// textOn is a readable text colour (near-black or white) on a background.
export function textOn(hex) {
  const c = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16) / 255).map(v => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const y = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  return (y + 0.05) / 0.05 >= 1.05 / (y + 0.05) ? '#111' : '#fff';
}

export class APIError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

// A Clew started with --query-token answers the API with 401 until the
// token is sent. getJSON then tells the app ('clew:auth'), which shows a
// sign-in form (a password field); the token is kept in this browser until
// the user signs out.
const TOKEN_KEY = 'clew.queryToken';

export function storedToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
}
export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* private mode: the token lasts as long as the page */ }
}

function apiHeaders() {
  const headers = { Accept: 'application/json' };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

// getJSON fetches an API path and unwraps Jaeger's {data, errors} envelope or
// api_v3's {error} form into an APIError.
export async function getJSON(path, signal) {
  let resp;
  try {
    resp = await fetch(path, { signal, headers: apiHeaders() });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, `cannot reach the server (${e.message})`);
  }
  if (resp.status === 401) {
    const rejected = !!storedToken();
    window.dispatchEvent(new CustomEvent('clew:auth', { detail: { rejected } }));
    throw new APIError(401, rejected ? 'the query token was rejected: sign in again' : 'this Clew requires a query token: sign in');
  }
  let body = null, text = '';
  try { text = await resp.text(); body = JSON.parse(text); } catch (e) { /* non-JSON error page */ }
  if (!resp.ok) {
    // Tempo's API (under /api/tempo) answers errors in plain text.
    const plain = !body && text.trim().length < 500 ? text.trim() : '';
    // Clew's own API: {"error": "message"}; Jaeger's: {"errors": [{msg}]} or api_v3's {"error": {message}}.
    const msg = (typeof body?.error === 'string' ? body.error : '') || body?.errors?.[0]?.msg || body?.error?.message || plain || `${resp.status} ${resp.statusText}`;
    throw new APIError(resp.status, msg);
  }
  if (body && Array.isArray(body.errors) && body.errors.length) throw new APIError(resp.status, body.errors[0].msg);
  return body;
}

export function copyText(text) {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text).catch(() => fallbackCopy(text));
  fallbackCopy(text);
  return Promise.resolve();
}
function fallbackCopy(text) {
  const ta = document.createElement('textarea');
  ta.value = text; document.body.appendChild(ta); ta.select();
  try { document.execCommand('copy'); } finally { ta.remove(); }
}

export function tagValue(tags, key) {
  if (!tags) return undefined;
  for (const t of tags) if (t.key === key) return t.value;
  return undefined;
}

// niceTicks returns about n round tick values in [lo, hi].
export function niceTicks(lo, hi, n) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * p).find(s => s >= raw) || 10 * p;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

// parseTimeUs turns an RFC 3339 timestamp with up to nanosecond precision
// into Unix microseconds (Date.parse alone keeps only milliseconds).
export function parseTimeUs(s) {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$/.exec(s || '');
  if (!m) return NaN;
  const ms = Date.parse(m[1] + m[3]);
  return ms * 1000 + (m[2] ? Math.round(parseFloat('0' + m[2]) * 1e6) : 0);
}

// Log severities (OTLP SeverityNumber 1–24) in four display classes.
export function sevClass(n) {
  return n >= 17 ? 'error' : n >= 13 ? 'warn' : n >= 9 ? 'info' : n >= 1 ? 'debug' : 'unset';
}
export function sevLabel(l) {
  if (l.severityText) return l.severityText;
  const n = l.severityNumber || 0;
  return n >= 21 ? 'FATAL' : n >= 17 ? 'ERROR' : n >= 13 ? 'WARN' : n >= 9 ? 'INFO' : n >= 5 ? 'DEBUG' : n >= 1 ? 'TRACE' : '—';
}

// normID left-pads a hex ID, as Clew's APIs key traces by 32 digits.
export function normID(id, len = 32) {
  return String(id || '').toLowerCase().padStart(len, '0');
}

// normLogs turns the logs API's records into what the views use: time in
// µs, lower-case IDs, a stable uid.
export function normLogs(list) {
  return (list || []).map((l, uid) => ({
    ...l, uid, t: parseTimeUs(l.time),
    traceId: l.traceId ? normID(l.traceId) : '', spanId: l.spanId ? normID(l.spanId, 16) : '',
    attributes: l.attributes || {}, resource: l.resource || {},
  }));
}
