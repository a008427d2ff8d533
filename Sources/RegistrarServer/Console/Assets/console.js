// Registrar web console: a small single-page app over the server's own HTTP API.
// Routes: #/namespaces, #/services?namespaceId=, #/service?namespaceId=&groupName=&serviceName=, #/cluster.
// This file renders the pages and starts the app. It is loaded last, after console-api.js (API, login, live
// events) and console-edit.js (instance edits), so every function they declare exists when start() runs.
'use strict';

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

// ---------------------------------------------------------------- wiring

$('login-form').addEventListener('submit', login);
$('error-close').addEventListener('click', clearError);
$('logout').addEventListener('click', () => loggedOut(''));
window.addEventListener('hashchange', route);
start();
