// The Sluice dashboard: polls GET /dashboard/data and draws it. Plain DOM, no dependencies.
// Every value is written with textContent: model names come from clients.

const KEY_STORAGE = 'sluice-admin-key';
const POLL_MS = 2_000;
const SVG = 'http://www.w3.org/2000/svg';
const CHART = { width: 900, height: 200 };
const KINDS = [
  ['hits', 'hit'],
  ['semanticHits', 'semantic'],
  ['misses', 'miss'],
  ['bypass', 'bypass'],
];

let timer;

const byId = (id) => document.getElementById(id);

const count = (value) => Number(value).toLocaleString('en-US');

const share = (part, whole) => (whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)} %`);

function duration(ms) {
  if (ms === 0) return '–';
  if (ms < 1) return `${(ms * 1_000).toFixed(0)} µs`;
  if (ms < 1_000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1_000).toFixed(2)} s`;
}

function usd(text) {
  const value = Number(text);
  if (!Number.isFinite(value)) return '–';
  return `$${value < 1 ? value.toFixed(value < 0.01 ? 6 : 4) : value.toFixed(2)}`;
}

function bytes(value) {
  if (value === null) return '–';
  if (value < 1_024) return `${value} B`;
  if (value < 1_048_576) return `${(value / 1_024).toFixed(1)} KiB`;
  return `${(value / 1_048_576).toFixed(1)} MiB`;
}

function setText(id, text) {
  byId(id).textContent = text;
}

function setStatus(text, bad = false) {
  const status = byId('status');
  status.textContent = text;
  status.classList.toggle('bad', bad);
}

/** Replaces a table's rows; each row is a list of cells (strings or nodes). */
function fillTable(id, rows, empty) {
  const body = byId(id).tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = byId(id).tHead.rows[0].cells.length;
    cell.textContent = empty;
    return;
  }
  for (const cells of rows) {
    const row = body.insertRow();
    for (const value of cells) {
      const cell = row.insertCell();
      if (value instanceof Node) cell.append(value);
      else cell.textContent = value;
    }
  }
}

function usageBar(ratio) {
  const wrapper = document.createElement('span');
  const bar = document.createElement('span');
  bar.className = 'bar';
  const fill = document.createElement('span');
  fill.style.width = `${Math.min(100, ratio * 100).toFixed(1)}%`;
  if (ratio >= 1) fill.className = 'over';
  else if (ratio >= 0.8) fill.className = 'warn';
  bar.append(fill);
  wrapper.append(bar, `${(ratio * 100).toFixed(1)} %`);
  return wrapper;
}

function drawChart(activity) {
  const svg = byId('chart');
  svg.replaceChildren();
  const points = activity.series;
  const step = activity.stepSeconds;
  const peak = Math.max(1, ...points.map((point) => point.requests / step));
  const width = CHART.width / points.length;
  points.forEach((point, index) => {
    let top = CHART.height;
    for (const [field, kind] of KINDS) {
      const height = ((point[field] / step) * CHART.height) / peak;
      if (height <= 0) continue;
      top -= height;
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('class', kind);
      rect.setAttribute('x', (index * width).toFixed(2));
      rect.setAttribute('y', top.toFixed(2));
      rect.setAttribute('width', Math.max(1, width - 1).toFixed(2));
      rect.setAttribute('height', height.toFixed(2));
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `${new Date(point.at).toLocaleTimeString()}: ${(point[field] / step).toFixed(1)}/s ${kind}`;
      rect.append(title);
      svg.append(rect);
    }
  });
  setText('chart-scale', `peak ${peak.toFixed(1)} req/s · ${step} s per bar`);
}

function render(data) {
  const { activity } = data;
  const totals = activity.totals;
  const fromCache = totals.hits + totals.semanticHits;
  // The last minute's steps, the one under way included.
  const latest = activity.series.slice(-Math.max(1, Math.round(60 / activity.stepSeconds)));
  const recentRate =
    latest.reduce((sum, point) => sum + point.requests, 0) / (latest.length * activity.stepSeconds);

  setText('t-requests', count(totals.requests));
  setText('t-rate', `${recentRate.toFixed(1)} req/s over the last minute`);
  setText('t-hit-ratio', share(fromCache, totals.requests));
  setText(
    't-hits',
    `${count(totals.hits)} exact, ${count(totals.semanticHits)} semantic: upstream calls avoided`,
  );
  const today = data.spend.today;
  setText('t-spent', today === null ? 'ledger off' : usd(today.costUsd));
  setText('t-avoided', today === null ? '' : `${usd(today.avoidedUsd)} avoided by the cache today`);
  const latency = activity.latency;
  setText('t-latency', `${duration(latency.p50Ms)} / ${duration(latency.p95Ms)}`);
  setText(
    't-latency-window',
    `p99 ${duration(latency.p99Ms)}, ${count(latency.requests)} requests in the last ${latency.windowSeconds / 60} min`,
  );
  setText('t-overhead', duration(latency.overheadP50Ms));
  setText(
    't-overhead-p95',
    `p95 ${duration(latency.overheadP95Ms)}; upstream time excluded, semantic embedding included`,
  );
  setText('t-errors', count(totals.clientErrors + totals.upstreamErrors + totals.serverErrors));
  setText(
    't-in-flight',
    `${count(totals.clientErrors)} refused, ${count(totals.upstreamErrors)} upstream, ${count(totals.serverErrors)} Sluice · ${count(data.inFlight)} in flight`,
  );

  drawChart(activity);

  fillTable(
    'models',
    activity.models.map((model) => [
      model.model,
      count(model.requests),
      share(model.hits + model.semanticHits, model.requests),
      count(model.errors),
      duration(model.p50Ms),
      duration(model.p95Ms),
    ]),
    'no requests yet',
  );
  fillTable(
    'budgets',
    data.budgets.map((budget) => [
      budget.scope,
      budget.window,
      usd(budget.spentUsd),
      usd(budget.limitUsd),
      usageBar(budget.ratio),
    ]),
    'no budgets configured',
  );
  fillTable(
    'tiers',
    data.cache === null
      ? []
      : data.cache.tiers.map((tier) => [
          tier.name,
          tier.kind,
          count(tier.hits),
          count(tier.misses),
          tier.entries === null ? '–' : count(tier.entries),
          bytes(tier.bytes),
          count(tier.evictions),
          count(tier.errors),
        ]),
    'the response cache is off',
  );
  const semantic = data.semantic;
  byId('semantic-panel').hidden = semantic === null;
  if (semantic !== null) {
    fillTable(
      'semantic',
      [
        [
          count(semantic.lookups),
          count(semantic.hits),
          count(semantic.misses),
          count(semantic.entries),
          count(semantic.embedErrors),
        ],
      ],
      '',
    );
    const reasons = Object.entries(semantic.missesByReason)
      .sort((left, right) => right[1] - left[1])
      .map(([reason, times]) => `${reason} ${count(times)}`);
    setText('semantic-reasons', reasons.length === 0 ? '' : `misses: ${reasons.join(', ')}`);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(poll, POLL_MS);
}

function showLogin(message) {
  byId('main').hidden = true;
  byId('login').hidden = false;
  setText('login-message', message);
  setStatus('admin key needed');
}

async function poll() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  let response;
  try {
    response = await fetch('/dashboard/data', {
      headers: key === null ? {} : { authorization: `Bearer ${key}` },
      cache: 'no-store',
    });
  } catch {
    setStatus('the gateway is unreachable; retrying', true);
    return schedule();
  }
  if (response.status === 401) {
    return showLogin(
      key === null ? 'The admin key is needed to see the dashboard.' : 'That key was refused.',
    );
  }
  if (response.status === 404) {
    const body = await response.json().catch(() => ({}));
    byId('main').hidden = true;
    byId('message').hidden = false;
    setText('message', body?.error?.message ?? 'The dashboard is disabled.');
    return setStatus('disabled', true);
  }
  if (!response.ok) {
    setStatus(`the gateway answered ${response.status}; retrying`, true);
    return schedule();
  }
  render(await response.json());
  byId('login').hidden = true;
  byId('main').hidden = false;
  setStatus(`live · updated ${new Date().toLocaleTimeString()}`);
  schedule();
}

byId('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, byId('key').value);
  byId('key').value = '';
  poll();
});

poll();
