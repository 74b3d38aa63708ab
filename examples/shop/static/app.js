// The shop page. Telemetry comes from otel-bundle.js (window.shopOtel): every
// button press runs inside a root span "click <button>", and the fetch
// instrumentation sends traceparent to the gateway, so Clew shows one trace
// from the click to the worker that sends the confirmation e-mail.
(function () {
  'use strict';
  const cfg = window.CLEW_SHOP_CONFIG;
  const otel = window.shopOtel;
  const $ = (id) => document.getElementById(id);
  const storageKey = 'clew-shop-login';
  let login = null;
  let lastOrderId = null;

  try { login = JSON.parse(localStorage.getItem(storageKey)); } catch (e) { login = null; }

  function render() {
    $('login-box').hidden = !!login;
    $('shop-box').hidden = !login;
    if (login) {
      $('who').textContent = login.user;
      $('session').textContent = login.session_id;
    }
  }

  function setBusy(busy) {
    document.body.dataset.busy = String(busy);
    document.querySelectorAll('button').forEach((b) => { b.disabled = busy; });
  }

  function show(outcome, message, data, traceId) {
    const status = $('status');
    status.textContent = message;
    status.className = outcome;
    $('result').textContent = data === undefined ? '' : JSON.stringify(data, null, 2);
    $('result').dataset.outcome = outcome;
    if (traceId) {
      $('trace').hidden = false;
      $('trace-id').textContent = traceId;
      $('trace-link').href = cfg.clewUI.replace(/\/$/, '') + '/trace/' + traceId;
      document.body.dataset.lastTraceId = traceId;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // api calls the gateway with the traced fetch of the current action.
  async function api(fetch, method, path, body) {
    const headers = {};
    if (login) headers.Authorization = 'Bearer ' + login.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const fail = $('fail').value;
    if (fail) headers['X-Demo-Fail'] = fail;
    const res = await fetch(cfg.gatewayURL + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(res.status + ' ' + (data.error || res.statusText));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // act runs one user action inside its root span.
  async function act(label, work) {
    setBusy(true);
    document.body.dataset.done = '';
    const slow = $('slow').checked;
    let traceId = '';
    const attrs = { 'app.action': label, 'app.slow_click': slow };
    if (login) attrs['session.id'] = login.session_id;
    if ($('fail').value) attrs['demo.fail'] = $('fail').value;
    try {
      const data = await otel.action('click ' + label, attrs, async ({ span, fetch }) => {
        traceId = span.spanContext().traceId;
        if (slow) {
          span.addEvent('slow click: waiting 1.5 s before sending the request');
          await sleep(1500);
        }
        return work(fetch);
      });
      show('ok', label + ': done', data, traceId);
    } catch (err) {
      show('error', label + ' failed: ' + err.message, undefined, traceId);
      if (err.status === 401 && label !== 'Log in') { // token expired or signed by an earlier run
        login = null;
        localStorage.removeItem(storageKey);
        render();
      }
    } finally {
      setBusy(false);
      document.body.dataset.done = label;
    }
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = $('username').value.trim();
    act('Log in', async (fetch) => {
      const data = await api(fetch, 'POST', '/api/login', { username });
      login = data;
      localStorage.setItem(storageKey, JSON.stringify(data));
      render();
      return { user: data.user, session_id: data.session_id, expires_at: data.expires_at };
    });
  });
  $('logout').addEventListener('click', () => {
    login = null;
    localStorage.removeItem(storageKey);
    render();
  });
  $('fetch').addEventListener('click', () => act('Fetch my data', async (fetch) => {
    const data = await api(fetch, 'GET', '/api/me');
    if (data.orders && data.orders.length) lastOrderId = data.orders[0].id;
    return data;
  }));
  $('track').addEventListener('click', () => act('Track order', (fetch) =>
    api(fetch, 'GET', '/api/orders/' + (lastOrderId || 'latest') + '/tracking')));
  $('place').addEventListener('click', () => act('Place order', async (fetch) => {
    const data = await api(fetch, 'POST', '/api/orders', { item: $('item').value, quantity: Number($('quantity').value) });
    lastOrderId = data.id;
    return data;
  }));

  render();
})();
