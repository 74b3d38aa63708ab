// Entry point: top bar, client-side routing and theme.
import { render } from '../vendor/preact.mjs';
import { useState, useEffect } from '../vendor/preact-hooks.mjs';
import { html, navigate, getJSON, setKnownServices, storedToken, setToken } from './lib.mjs';
import { SearchPage } from './search.mjs';
import { TracePage } from './trace.mjs';
import { MapPage } from './map.mjs';
import { ComparePage } from './compare.mjs';
import { ServicesPage } from './services.mjs';
import { ErrorsPage } from './errors.mjs';
import { UserPage } from './user.mjs';
import { LogsPage } from './logs.mjs';

function useLocation() {
  const [loc, setLoc] = useState(() => ({ path: location.pathname, search: location.search }));
  useEffect(() => {
    const update = () => setLoc({ path: location.pathname, search: location.search });
    window.addEventListener('popstate', update);
    window.addEventListener('clew:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('clew:navigate', update);
    };
  }, []);
  return loc;
}

function route(loc) {
  const params = new URLSearchParams(loc.search);
  const m = /^\/trace\/([^/]+)\/?$/.exec(loc.path);
  if (m) return { name: 'trace', el: html`<${TracePage} key=${m[1]} id=${decodeURIComponent(m[1])} params=${params} />` };
  switch (loc.path.replace(/\/+$/, '') || '/') {
    case '/':
    case '/search': return { name: 'search', el: html`<${SearchPage} params=${params} />` };
    case '/services': return { name: 'services', el: html`<${ServicesPage} params=${params} />` };
    case '/map': return { name: 'map', el: html`<${MapPage} params=${params} />` };
    case '/compare': return { name: 'compare', el: html`<${ComparePage} params=${params} />` };
    case '/logs': return { name: 'logs', el: html`<${LogsPage} params=${params} />` };
    case '/errors': return { name: 'errors', el: html`<${ErrorsPage} params=${params} />` };
    case '/user': return { name: 'user', el: html`<${UserPage} kind="user" params=${params} />` };
    case '/session': return { name: 'session', el: html`<${UserPage} kind="session" params=${params} />` };
  }
  return { name: '', el: html`<div class="page"><div class="empty"><h2>Page not found</h2><p><a href="/search">Search traces</a></p></div></div>` };
}

function ThemeToggle() {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ||
    (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  const flip = () => {
    const t = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = t;
    try { localStorage.setItem('clew.theme', t); } catch (e) { /* private mode */ }
    setTheme(t);
  };
  return html`<button class="icon" onClick=${flip} title="Switch to ${theme === 'dark' ? 'light' : 'dark'} theme" aria-label="Toggle theme" data-testid="theme">
    ${theme === 'dark' ? '☀ Light' : '☾ Dark'}</button>`;
}

function GoTo() {
  const [id, setId] = useState('');
  const submit = e => {
    e.preventDefault();
    const v = id.trim();
    if (/^[0-9a-fA-F]{1,32}$/.test(v)) { navigate(`/trace/${v.toLowerCase()}`); setId(''); }
  };
  return html`<form class="goto" onSubmit=${submit}>
    <input placeholder="Go to trace ID…" value=${id} onInput=${e => setId(e.target.value)} aria-label="Go to trace ID" /></form>`;
}

// SignIn asks for the query token with a password field. The token is
// checked against the API before it is kept.
function SignIn({ rejected, onDone }) {
  const [token, setTok] = useState('');
  const [state, setState] = useState({ busy: false, error: rejected ? 'The stored token was rejected.' : '' });
  const submit = async e => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return;
    setState({ busy: true, error: '' });
    let resp;
    try {
      resp = await fetch('/api/services', { headers: { Accept: 'application/json', Authorization: `Bearer ${t}` } });
    } catch (err) {
      setState({ busy: false, error: `Cannot reach the server (${err.message}).` });
      return;
    }
    if (resp.status === 401) { setState({ busy: false, error: 'This token was rejected.' }); return; }
    setToken(t);
    onDone();
  };
  return html`<div class="modal-back"><form class="card signin" onSubmit=${submit} data-testid="signin" aria-labelledby="signin-title">
    <h2 id="signin-title">Sign in to Clew</h2>
    <p class="muted">This server requires its query token (<code>--query-token</code>). It is kept in this browser until you sign out.</p>
    <input type="text" name="username" autocomplete="username" value="clew" hidden readonly />
    <label class="field"><span>Query token</span>
      <input type="password" name="token" autocomplete="current-password" value=${token} onInput=${e => setTok(e.target.value)}
        data-testid="signin-token" autofocus required /></label>
    ${state.error && html`<div class="err-text" role="alert" data-testid="signin-error">${state.error}</div>`}
    <button class="primary" type="submit" disabled=${state.busy || !token.trim()} data-testid="signin-submit">Sign in</button>
  </form></div>`;
}

function App() {
  const loc = useLocation();
  const r = route(loc);
  // Service colours are assigned over the server's whole service list, so
  // the page waits for it (a failure only leaves colours to their hash).
  const [ready, setReady] = useState(false);
  // Remounting the page (a new key) makes it fetch again after signing in
  // or out.
  const [epoch, setEpoch] = useState(0);
  const [auth, setAuth] = useState(null);
  const [signedIn, setSignedIn] = useState(() => !!storedToken());
  useEffect(() => {
    const onAuth = e => setAuth({ rejected: !!e.detail?.rejected });
    window.addEventListener('clew:auth', onAuth);
    return () => window.removeEventListener('clew:auth', onAuth);
  }, []);
  useEffect(() => {
    const ac = new AbortController();
    getJSON('/api/services', ac.signal).then(b => setKnownServices(b.data || [])).catch(() => {})
      .finally(() => { if (!ac.signal.aborted) setReady(true); });
    return () => ac.abort();
  }, [epoch]);
  useEffect(() => {
    document.title = { search: 'Search · Clew', trace: 'Trace · Clew', services: 'Services · Clew', map: 'Service map · Clew', compare: 'Compare · Clew', errors: 'Errors · Clew', user: 'User · Clew', session: 'Session · Clew', logs: 'Logs · Clew' }[r.name] || 'Clew';
  }, [r.name]);
  const signOut = () => { setToken(''); setSignedIn(false); setEpoch(n => n + 1); };
  const nav = (href, name, label) => html`<a href=${href} class=${r.name === name ? 'active' : ''} aria-current=${r.name === name ? 'page' : undefined}>${label}</a>`;
  return html`
    <header class="topbar">
      <a class="brand" href="/search"><img src="/assets/favicon.svg" alt="" />Clew</a>
      <nav class="nav">
        ${nav('/search', 'search', 'Search')}
        ${nav('/services', 'services', 'Services')}
        ${nav('/logs', 'logs', 'Logs')}
        ${nav('/errors', 'errors', 'Errors')}
        ${nav('/map', 'map', 'Service map')}
        ${nav('/compare', 'compare', 'Compare')}
      </nav>
      <div class="spacer"></div>
      <${GoTo} />
      ${signedIn && html`<button class="icon" onClick=${signOut} data-testid="signout" title="Forget the query token kept in this browser">Sign out</button>`}
      <${ThemeToggle} />
    </header>
    <main class="main" key=${epoch}>${ready ? r.el : html`<div class="page"><div class="loading">Loading…</div></div>`}</main>
    ${auth && html`<${SignIn} rejected=${auth.rejected} onDone=${() => { setAuth(null); setSignedIn(true); setEpoch(n => n + 1); }} />`}`;
}

// Same-origin links navigate on the client unless the user asked for a new
// tab or a download.
document.addEventListener('click', e => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

render(html`<${App} />`, document.getElementById('app'));
