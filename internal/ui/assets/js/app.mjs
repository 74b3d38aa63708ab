// Entry point: top bar, client-side routing and theme.
import { render } from '../vendor/preact.mjs';
import { useState, useEffect } from '../vendor/preact-hooks.mjs';
import { html, navigate } from './lib.mjs';
import { SearchPage } from './search.mjs';
import { TracePage } from './trace.mjs';
import { MapPage } from './map.mjs';
import { ComparePage } from './compare.mjs';
import { ServicesPage } from './services.mjs';
import { ErrorsPage } from './errors.mjs';
import { UserPage } from './user.mjs';

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

function App() {
  const loc = useLocation();
  const r = route(loc);
  useEffect(() => {
    document.title = { search: 'Search · Clew', trace: 'Trace · Clew', services: 'Services · Clew', map: 'Service map · Clew', compare: 'Compare · Clew', errors: 'Errors · Clew', user: 'User · Clew', session: 'Session · Clew' }[r.name] || 'Clew';
  }, [r.name]);
  const nav = (href, name, label) => html`<a href=${href} class=${r.name === name ? 'active' : ''} aria-current=${r.name === name ? 'page' : undefined}>${label}</a>`;
  return html`
    <header class="topbar">
      <a class="brand" href="/search"><img src="/assets/favicon.svg" alt="" />Clew</a>
      <nav class="nav">
        ${nav('/search', 'search', 'Search')}
        ${nav('/services', 'services', 'Services')}
        ${nav('/errors', 'errors', 'Errors')}
        ${nav('/map', 'map', 'Service map')}
        ${nav('/compare', 'compare', 'Compare')}
      </nav>
      <div class="spacer"></div>
      <${GoTo} />
      <${ThemeToggle} />
    </header>
    <main class="main">${r.el}</main>`;
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
