// Registrar web console: a small single-page app over the server's own HTTP API.
// Routes: #/namespaces, #/services?namespaceId=, #/service?namespaceId=&groupName=&serviceName=, #/cluster.
'use strict';

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

// ---------------------------------------------------------------- DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, empty) {
  if (!rows.length) return el('p', { class: 'empty' }, empty);
  for (const row of rows) [...row.cells].forEach((cell, n) => cell.setAttribute('data-label', headers[n] || ''));
  return el('div', { class: 'table-wrap' },
    el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}

function yesNo(value) {
  return el('span', { class: value ? 'yes' : 'no' }, value ? 'yes' : 'no');
}

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

// ---------------------------------------------------------------- routing and views

function parseRoute() {
  const [path, q] = (location.hash.replace(/^#/, '') || '/services').split('?');
  const p = new URLSearchParams(q || '');
  const kind = { '/namespaces': 'namespaces', '/service': 'service', '/cluster': 'cluster' }[path] || 'services';
  return { kind, namespaceId: p.get('namespaceId') || 'public', groupName: p.get('groupName') || 'DEFAULT_GROUP',
    serviceName: p.get('serviceName') || '' };
}

function route() {
  if (!$('login-view').hidden) return;
  state.route = parseRoute();
  state.editing = false;
  clearError();
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.dataset.nav === state.route.kind ||
      (link.dataset.nav === 'services' && state.route.kind === 'service'));
  }
  refresh();
}

async function refresh() {
  const r = state.route;
  if (!r) return;
  if (state.editing) { state.pendingRefresh = true; return; }
  const views = { namespaces: viewNamespaces, services: viewServices, service: viewService, cluster: viewCluster };
  try {
    const content = await views[r.kind](r);
    if (state.route !== r || state.editing) return;   // navigated away, or an edit opened meanwhile
    $('view').replaceChildren(...content.filter(Boolean));
    $('view').dataset.view = r.kind;
  } catch (err) {
    if (state.route === r) showError(err.message);
  }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 200);
}

function serviceLink(ns, group, name) {
  return `#/service?${query({ namespaceId: ns, groupName: group, serviceName: name })}`;
}

async function viewNamespaces() {
  const list = await api('GET', '/nacos/v1/console/namespaces');
  const rows = list.map((n) => {
    const id = n.namespace || 'public';
    return el('tr', { 'data-namespace': id },
      el('td', {}, el('a', { href: `#/services?${query({ namespaceId: id })}` }, n.namespaceShowName || id)),
      el('td', { class: 'mono' }, id), el('td', {}, n.namespaceDesc || ''), el('td', { class: 'num' }, n.serviceCount));
  });
  return [el('h1', {}, 'Namespaces'), table(['Name', 'ID', 'Description', 'Services'], rows, 'No namespaces.')];
}

async function viewServices(r) {
  const [page, namespaces] = await Promise.all([
    api('GET', '/nacos/v3/console/ns/service/list', { namespaceId: r.namespaceId, pageNo: 1, pageSize: 100 }),
    api('GET', '/nacos/v1/console/namespaces').catch(() => []),
  ]);
  const items = page.pageItems || [];
  const rows = items.map((s) => el('tr', { 'data-service': `${s.groupName}@@${s.name}` },
    el('td', {}, el('a', { href: serviceLink(r.namespaceId, s.groupName, s.name) }, s.name)),
    el('td', {}, s.groupName),
    el('td', { class: 'num', 'data-field': 'instances' }, s.ipCount),
    el('td', { class: 'num', 'data-field': 'healthy' }, s.healthyInstanceCount),
    el('td', { class: 'num', 'data-field': 'subscribers' }, s.subscriberCount ?? '–'),
    el('td', { class: 'num' }, s.clusterCount)));
  const picker = el('select', { id: 'namespace-select', 'aria-label': 'Namespace', onchange: (e) => {
    location.hash = `#/services?${query({ namespaceId: e.target.value })}`;
  } }, namespaces.map((n) => {
    const id = n.namespace || 'public';
    return el('option', { value: id, selected: id === r.namespaceId }, n.namespaceShowName || id);
  }));
  const more = page.totalCount > items.length
    ? el('p', { class: 'note' }, `Showing ${items.length} of ${page.totalCount}.`) : null;
  return [el('div', { class: 'heading' }, el('h1', {}, 'Services'), namespaces.length ? picker : r.namespaceId),
    table(['Service', 'Group', 'Instances', 'Healthy', 'Subscribers', 'Clusters'], rows,
      `No services in namespace ${r.namespaceId}.`), more];
}

async function viewService(r) {
  const key = { namespaceId: r.namespaceId, groupName: r.groupName, serviceName: r.serviceName };
  const [instances, subscribers, canWrite] = await Promise.all([
    api('GET', '/nacos/v3/console/ns/instance/list', key),
    api('GET', '/nacos/v3/console/ns/service/subscribers', { ...key, pageNo: 1, pageSize: 100 }),
    rightsFor(r.namespaceId),
  ]);
  const rows = (instances || []).map((i) => instanceRow(r, i, canWrite));
  const headers = ['IP', 'Port', 'Cluster', 'Weight', 'Healthy', 'Enabled', 'Ephemeral', 'Metadata'];
  const subs = (subscribers.pageItems || []).map((s) => {
    const address = s.address || `${s.ip}:${s.port}`;
    return el('tr', { 'data-subscriber': address }, el('td', { class: 'mono' }, address),
      el('td', { class: 'mono' }, s.clientId || ''));
  });
  const back = `#/services?${query({ namespaceId: r.namespaceId })}`;
  return [
    el('p', { class: 'crumbs' }, el('a', { href: back }, r.namespaceId), ' / ', r.groupName),
    el('h1', {}, r.serviceName),
    el('h2', {}, `Instances (${rows.length})`),
    table(canWrite ? [...headers, 'Actions'] : headers, rows, 'No instances.'),
    el('h2', {}, `Subscribers (${subscribers.totalCount ?? subs.length})`),
    table(['Address', 'Client'], subs, 'No subscribers.'),
  ];
}

function instanceRow(r, i, canWrite) {
  const meta = Object.entries(i.metadata || {}).map(([k, v]) => el('span', { class: 'tag' }, `${k}=${v}`));
  const weight = el('td', { class: 'num', 'data-field': 'weight' }, i.weight);
  const row = el('tr', { 'data-instance': `${i.ip}:${i.port}`, 'data-cluster': i.clusterName,
    class: i.enabled ? '' : 'off' },
    el('td', { class: 'mono' }, i.ip), el('td', { class: 'num' }, i.port), el('td', {}, i.clusterName), weight,
    el('td', { 'data-field': 'healthy' }, yesNo(i.healthy)), el('td', { 'data-field': 'enabled' }, yesNo(i.enabled)),
    el('td', { 'data-field': 'ephemeral' }, yesNo(i.ephemeral)), el('td', { class: 'meta' }, meta));
  if (!canWrite) return row;
  const actions = el('td', { class: 'actions' },
    el('button', { type: 'button', class: 'edit-weight', onclick: () => editWeight(r, i, weight) }, 'Edit weight'),
    el('button', { type: 'button', class: 'toggle-enabled', onclick: (e) => {
      e.target.disabled = true;
      updateInstance(r, i, { enabled: !i.enabled });
    } }, i.enabled ? 'Disable' : 'Enable'),
    el('button', { type: 'button', class: 'deregister danger', onclick: () => confirmDeregister(r, i, actions) },
      'Deregister'));
  row.append(actions);
  return row;
}

function cancelEdit() {
  state.editing = false;
  state.pendingRefresh = false;
  refresh();
}

function editWeight(r, i, cell) {
  state.editing = true;
  // No min/max here: the server checks the range and its message is shown.
  const input = el('input', { class: 'weight-input', type: 'number', step: 'any', value: i.weight,
    'aria-label': 'Weight' });
  const save = () => {
    const weight = Number(input.value);
    if (input.value.trim() === '' || !Number.isFinite(weight)) return showError('The weight must be a number.');
    state.editing = false;
    updateInstance(r, i, { weight });
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') save();
    if (e.key === 'Escape') cancelEdit();
  });
  cell.replaceChildren(el('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); save(); } }, input,
    el('button', { type: 'submit', class: 'save-weight' }, 'Save'),
    el('button', { type: 'button', class: 'cancel-edit', onclick: cancelEdit }, 'Cancel')));
  input.focus();
  input.select();
}

function confirmDeregister(r, i, cell) {
  state.editing = true;
  cell.replaceChildren(el('span', { class: 'confirm' }, `Deregister ${i.ip}:${i.port}?`),
    el('button', { type: 'button', class: 'confirm-deregister danger', onclick: (e) => {
      e.target.disabled = true;
      state.editing = false;
      run(() => deregister(r, i));
    } }, 'Yes, deregister'),
    el('button', { type: 'button', class: 'cancel-edit', onclick: cancelEdit }, 'Cancel'));
}

// The server answers ok to deregistering an instance that a connected SDK client owns, and keeps it: say so.
async function deregister(r, i) {
  await api('DELETE', '/nacos/v3/console/ns/instance', instanceKey(r, i));
  const left = await api('GET', '/nacos/v3/console/ns/instance/list',
    { namespaceId: r.namespaceId, groupName: r.groupName, serviceName: r.serviceName });
  if ((left || []).some((x) => x.ip === i.ip && x.port === i.port && x.clusterName === i.clusterName)) {
    throw new ApiError(0, `${i.ip}:${i.port} is still registered: the server accepted the deregistration, but a `
      + 'connected client owns this instance and keeps it until it deregisters or disconnects. Disable it instead.');
  }
}

function instanceKey(r, i) {
  return { namespaceId: r.namespaceId, groupName: r.groupName, serviceName: r.serviceName, ip: i.ip, port: i.port,
    clusterName: i.clusterName, ephemeral: i.ephemeral };
}

function updateInstance(r, i, change) {
  const fields = { ...instanceKey(r, i), weight: i.weight, enabled: i.enabled,
    metadata: JSON.stringify(i.metadata || {}), ...change };
  return run(() => api('PUT', '/nacos/v3/console/ns/instance', fields));
}

// An action, then the view again (live events refresh it too, but the user should not wait for them).
async function run(action) {
  clearError();
  try {
    await action();
  } catch (err) {
    showError(err.message);
  }
  state.pendingRefresh = false;
  await refresh();
}

async function viewCluster() {
  const nodes = await api('GET', '/nacos/v1/core/cluster/nodes');
  const rows = nodes.map((n) => {
    const info = n.extendInfo || {};
    return el('tr', { 'data-member': n.address },
      el('td', { class: 'mono' }, n.address), el('td', { 'data-field': 'state' }, stateBadge(n.state)),
      el('td', {}, info.version || ''),
      el('td', {}, info.lastRefreshTime ? new Date(info.lastRefreshTime).toLocaleString() : ''));
  });
  return [el('h1', {}, 'Cluster members'), table(['Address', 'State', 'Version', 'Last refresh'], rows, 'No members.')];
}

function stateBadge(text) {
  return el('span', { class: `state state-${String(text).toLowerCase()}` }, text);
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

// ---------------------------------------------------------------- wiring

$('login-form').addEventListener('submit', login);
$('error-close').addEventListener('click', clearError);
$('logout').addEventListener('click', () => loggedOut(''));
window.addEventListener('hashchange', route);
start();
