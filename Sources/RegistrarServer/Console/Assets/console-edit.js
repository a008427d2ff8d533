// Registrar web console, instance edits: weight, enable/disable and deregister, each followed by a fresh view.
'use strict';

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
