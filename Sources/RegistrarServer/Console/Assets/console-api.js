// Registrar web console, the plumbing under the pages: shared state, the server's HTTP API, login, live events.
// Plain classic scripts sharing globals, no build step: index.html loads this file first and console.js last.
'use strict';

// ---------------------------------------------------------------- state and shared helpers

const TOKEN_KEY = 'registrar.accessToken';
const USER_KEY = 'registrar.username';
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  authEnabled: true,
  rights: {},          // namespaceId -> canWrite
  route: null,         // {kind, namespaceId, groupName, serviceName}
  events: null,
  editing: false,      // an inline edit is open: live refreshes wait for it
  pendingRefresh: false,
  refreshTimer: null,
  retryTimer: null,
  samples: [],         // recent rates for the sparkline
};

function query(params) {
  return new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null)).toString();
}

function showError(message) {
  $('error-text').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error-text').textContent = '';
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// The server's message from an error answer: a JSON envelope ({code, message, data}) or a text body.
function messageOf(status, text) {
  try {
    const body = JSON.parse(text);
    const detail = typeof body.data === 'string' && body.data !== body.message ? body.data : '';
    const message = [body.message, detail].filter(Boolean).join(': ');
    if (message) return message;
  } catch (_) { /* a text body */ }
  return (text || '').trim() || `HTTP ${status}`;
}

async function api(method, path, params = {}, { auth = true } = {}) {
  const headers = {};
  if (auth && state.token) headers.Authorization = `Bearer ${state.token}`;
  let url = path;
  let body;
  if (method === 'GET' || method === 'DELETE') {
    const q = query(params);
    if (q) url += `?${q}`;
  } else {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = query(params);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, `cannot reach the server (${err.message})`);
  }
  const text = await response.text();
  if (!response.ok) {
    const error = new ApiError(response.status, messageOf(response.status, text));
    if (auth && state.token && (response.status === 401 || (response.status === 403 && tokenIsBad(error.message)))) {
      loggedOut(error.message);
    }
    throw error;
  }
  let json;
  try { json = JSON.parse(text); } catch (_) { return text; }
  if (json && typeof json === 'object' && 'code' in json && 'data' in json) {
    if (json.code !== 0 && json.code !== 200) throw new ApiError(response.status, messageOf(response.status, text));
    return json.data;
  }
  return json;
}

function tokenIsBad(message) {
  return /access token|no longer exists|log in/i.test(message);
}

// ---------------------------------------------------------------- login and identity

async function rightsFor(namespaceId) {
  if (!(namespaceId in state.rights)) {
    const me = await api('GET', '/nacos/v3/console/me', { namespaceId });
    state.authEnabled = me.authEnabled !== false;
    state.rights[namespaceId] = me.canWrite === true;
    $('whoami').textContent = state.authEnabled ? `${me.username || ''}${me.canWrite ? '' : ' (read-only)'}` : '';
  }
  return state.rights[namespaceId];
}

function showLogin() {
  stopEvents();
  document.body.dataset.session = 'out';
  $('view').hidden = true;
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('whoami').textContent = '';
  $('login-view').hidden = false;
  $('username').value = $('username').value || sessionStorage.getItem(USER_KEY) || '';
  ($('username').value ? $('password') : $('username')).focus();
}

function loggedOut(message) {
  state.token = '';
  state.rights = {};
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
  if (message) showError(message);
}

async function login(event) {
  event.preventDefault();
  clearError();
  const username = $('username').value.trim();
  const button = $('login-submit');
  button.disabled = true;
  try {
    const answer = await api('POST', '/nacos/v3/auth/user/login', { username, password: $('password').value },
      { auth: false });
    if (!answer || !answer.accessToken) throw new ApiError(0, 'the login answer has no accessToken');
    state.token = answer.accessToken;
    state.rights = {};
    sessionStorage.setItem(TOKEN_KEY, state.token);
    sessionStorage.setItem(USER_KEY, answer.username || username);
    $('password').value = '';
    await start();
  } catch (err) {
    showError(`Login failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  try {
    await rightsFor('public');
  } catch (err) {
    if (err.status === 403 || err.status === 401) return loggedOut(state.token ? err.message : '');
    return showError(err.message);
  }
  if (state.authEnabled && !state.token) return showLogin();
  $('login-view').hidden = true;
  document.body.dataset.session = 'in';
  $('view').hidden = false;
  $('nav').hidden = false;
  $('logout').hidden = !state.authEnabled;
  startEvents();
  route();
}

// ---------------------------------------------------------------- live events

function setLive(stateName, label) {
  $('live').dataset.state = stateName;
  $('live').textContent = label;
}

function startEvents() {
  stopEvents();
  if (typeof EventSource === 'undefined') return setLive('off', 'no live updates');
  const q = state.token ? `?${query({ accessToken: state.token })}` : '';
  const source = new EventSource(`/nacos/v3/console/events${q}`);
  state.events = source;
  setLive('connecting', 'connecting…');
  source.onopen = () => setLive('on', 'live');
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) return setLive('retry', 'reconnecting…');
    // The server refused the stream (e.g. an expired token): find out why, then try again.
    setLive('retry', 'reconnecting…');
    state.events = null;
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(async () => {
      try {
        state.rights = {};
        await rightsFor(state.route ? state.route.namespaceId : 'public');
        startEvents();
      } catch (err) {
        if (state.token || !state.authEnabled) showError(`Live updates stopped: ${err.message}`);
      }
    }, 3000);
  };
  source.addEventListener('change', (e) => onChange(JSON.parse(e.data)));
  source.addEventListener('rates', (e) => onRates(JSON.parse(e.data)));
}

function stopEvents() {
  clearTimeout(state.retryTimer);
  if (state.events) state.events.close();
  state.events = null;
  setLive('off', 'offline');
}

function onChange(change) {
  const r = state.route;
  if (!r) return;
  const ns = change.namespaceId || 'public';
  const shown = (r.kind === 'services' && ns === r.namespaceId) || r.kind === 'namespaces' ||
    (r.kind === 'service' && ns === r.namespaceId && (change.groupName || 'DEFAULT_GROUP') === r.groupName &&
      change.serviceName === r.serviceName);
  if (shown) scheduleRefresh();
}

function onRates(rates) {
  const fixed = (x) => (typeof x === 'number' ? x.toFixed(1) : '–');
  $('rate-requests').textContent = fixed(rates.requestsPerSecond);
  $('rate-pushes').textContent = fixed(rates.pushesPerSecond);
  $('rate-connections').textContent = rates.connections ?? '–';
  state.samples.push([rates.requestsPerSecond || 0, rates.pushesPerSecond || 0]);
  if (state.samples.length > 30) state.samples.shift();
  const top = Math.max(1, ...state.samples.flat());
  const step = 60 / Math.max(1, state.samples.length - 1);
  const line = (k) => state.samples.map((s, x) => `${(x * step).toFixed(1)},${(19 - (s[k] / top) * 18).toFixed(1)}`)
    .join(' ');
  $('spark-requests').setAttribute('points', line(0));
  $('spark-pushes').setAttribute('points', line(1));
  if (state.route && state.route.kind === 'cluster' && !state.editing) {
    for (const m of rates.members || []) {
      const cell = document.querySelector(`tr[data-member="${CSS.escape(m.address)}"] [data-field="state"]`);
      if (cell) cell.replaceChildren(stateBadge(m.state));
      else scheduleRefresh();
    }
  }
}
