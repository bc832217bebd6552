// The dashboard: polls the control plane's API every 2 s and its PromQL
// API every 5 s, and draws what they answer. No websocket: a list of a few
// dozen resources every two seconds costs the control plane less than
// keeping a stream per open page, and works through any proxy. An agent's
// log is asked for only when its status says it ticked (ticks.js).

import { APIError, Unauthorized, getJSON, setToken, token } from './api.js';
import { figure } from './chart.js';
import { replace, showError } from './dom.js';
import { clock } from './format.js';
import { TickLogs } from './ticks.js';
import { agentRows, appCards, catalogRows, coresUsed, latestDecisions, latestMoves, migrationRows, sitesRows } from './views.js';

const REFRESH_MS = 2000;
const METRICS_MS = 5000;
const WINDOW_S = 15 * 60;
const STEP_S = 5;
const QUERY_KEY = 'cloudskin.query';

// CHARTS are always drawn. The metric names are the control plane's own
// (orchestrator/metrics.go, internal/httpserver).
const CHARTS = [
  { id: 'http', title: 'HTTP requests per second, by route', query: 'sum by (handler) (rate(cloudskin_http_requests_total[1m]))' },
  { id: 'sites', title: 'Sites ready (1) or not (0)', query: 'max by (site) (cloudskin_site_ready)' },
];
// QOS_QUERY is what running cells report with cloudskin_metric (fps,
// latency_ms...), one chart per metric, shown when there is any.
const QOS_QUERY = 'cloudskin_cell_qos';

const $ = (id) => document.getElementById(id);

let lastUpdate = null;

// ticks holds the agents' recent ticks between refreshes.
const ticks = new TickLogs(async (name, limit) =>
  (await getJSON(`/api/v1/agents/${encodeURIComponent(name)}/ticks?limit=${limit}`)).items ?? []);

// every returns a function that runs fn now and then ms after each run
// ends; calling it while fn runs makes fn run again right after.
function every(ms, fn) {
  let timer = null;
  let busy = false;
  let again = false;
  const run = async () => {
    clearTimeout(timer);
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
      timer = setTimeout(run, again ? 0 : ms);
      again = false;
    }
  };
  return run;
}

// unreachable is true for a request that got no answer at all.
const unreachable = (err) => err instanceof APIError && err.status === 0;

// fetchAll gets each path, answering {name: items} and {name: error}.
async function fetchAll(paths) {
  const names = Object.keys(paths);
  const settled = await Promise.allSettled(names.map((n) => getJSON(paths[n])));
  const items = {};
  const errors = {};
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') items[names[i]] = r.value.items ?? [];
    else errors[names[i]] = r.reason;
  });
  return { items, errors };
}

async function refresh() {
  const { items, errors } = await fetchAll({
    sites: '/api/v1/sites',
    blocks: '/api/v1/blocks?allVersions=true',
    apps: '/api/v1/applications',
    placements: '/api/v1/placements',
    migrations: '/api/v1/migrations',
    agents: '/api/v1/agents',
  });
  // A control plane without the Learning Plane answers 404 for its agents:
  // a note in their section, not an error of the page.
  const noAgents = errors.agents instanceof APIError && errors.agents.status === 404;
  if (noAgents) delete errors.agents;
  const errs = Object.values(errors);
  if (errs.some((e) => e instanceof Unauthorized)) {
    askForToken();
    return;
  }
  const status = $('status');
  if (Object.keys(items).length === 0 && errs.every(unreachable)) {
    // Keep showing what we had; the header says it is getting old.
    status.dataset.state = 'error';
    status.textContent = `${errs[0].message}${lastUpdate ? '; last update ' + clock(lastUpdate, true) : ''}`;
    return;
  }
  tokenAccepted();
  const now = Date.now();
  const blocks = items.blocks ?? [];
  const apps = items.apps ?? [];

  showError($('sites'), errors.sites);
  if (items.sites) {
    const used = coresUsed(apps, blocks);
    replace($('sites-body'), JSON.stringify([items.sites, [...used], Math.floor(now / 1000)]), () => sitesRows(items.sites, used, now));
  }
  showError($('catalog'), errors.blocks);
  if (items.blocks) replace($('catalog-body'), JSON.stringify(blocks), () => catalogRows(blocks));
  showError($('applications'), errors.apps ?? errors.placements);
  if (items.apps) {
    const placements = items.placements ?? [];
    const migrations = items.migrations ?? [];
    replace($('apps-list'), JSON.stringify([apps, placements, migrations]),
      () => appCards(apps, latestDecisions(placements), latestMoves(migrations)));
  }
  showError($('migrations'), errors.migrations);
  if (items.migrations) {
    replace($('migrations-body'), JSON.stringify([items.migrations, Math.floor(now / 1000)]), () => migrationRows(items.migrations));
  }
  await showAgents(items.agents, errors.agents, noAgents, now);

  lastUpdate = new Date(now);
  status.dataset.state = errs.length ? 'partial' : 'ok';
  status.textContent = `Updated ${clock(lastUpdate, true)}`;
}

// showAgents fills the agents' section, first fetching the ticks of those
// that ticked since the last refresh.
async function showAgents(agents, err, unavailable, now) {
  showError($('agents'), err);
  const note = $('agents-note');
  note.hidden = !unavailable;
  note.dataset.state = unavailable ? 'unavailable' : 'ok';
  note.textContent = unavailable ? 'The Learning Plane does not run in this control plane (GET /api/v1/agents: 404 Not Found).' : '';
  $('agents-table').hidden = unavailable;
  if (!agents) return;
  await ticks.update(agents);
  const logs = agents.map((a) => {
    const log = ticks.get(a.metadata.name);
    return [log.version, log.error?.message];
  });
  replace($('agents-body'), JSON.stringify([agents, logs, Math.floor(now / 1000)]), () => agentRows(agents, (name) => ticks.get(name), now));
}

// rangeQuery runs a PromQL range query over the last WINDOW_S seconds.
async function rangeQuery(query, start, end) {
  const params = new URLSearchParams({ query, start: String(start), end: String(end), step: `${STEP_S}s` });
  const answer = await getJSON(`/api/v1/query_range?${params}`);
  return answer.data?.result ?? [];
}

async function refreshMetrics() {
  const end = Math.floor(Date.now() / 1000);
  const start = end - WINDOW_S;
  const userQuery = $('query-input').dataset.active ?? '';
  const queries = [...CHARTS.map((c) => c.query), QOS_QUERY, userQuery].filter((q) => q);
  const settled = await Promise.allSettled(queries.map((q) => rangeQuery(q, start, end)));
  const outcome = new Map(queries.map((q, i) => [q, settled[i]]));
  const reasons = settled.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (reasons.some((e) => e instanceof Unauthorized)) {
    askForToken();
    return;
  }
  if (reasons.length === queries.length && reasons.every(unreachable)) {
    return; // keep the charts we have; the header says the control plane is away
  }
  const note = $('metrics-note');
  if (reasons.some((e) => e instanceof APIError && e.status === 404)) {
    // No telemetry in this control plane: say so once, draw nothing.
    note.hidden = false;
    note.dataset.state = 'unavailable';
    note.textContent = 'Metrics unavailable: this control plane answers no PromQL queries (GET /api/v1/query_range: 404 Not Found).';
    for (const id of ['charts', 'query-form', 'query-chart']) $(id).hidden = true;
    return;
  }
  note.hidden = true;
  note.dataset.state = 'ok';
  for (const id of ['charts', 'query-form', 'query-chart']) $(id).hidden = false;

  const common = { start, end, step: STEP_S };
  const drawn = CHARTS.map((c) => {
    const r = outcome.get(c.query);
    return figure({ ...c, ...common, result: r.value, error: r.reason });
  });
  drawn.push(...qosFigures(outcome.get(QOS_QUERY), common));
  $('charts').replaceChildren(...drawn);

  const mine = $('query-chart');
  if (!userQuery) {
    mine.replaceChildren();
  } else {
    const r = outcome.get(userQuery);
    mine.replaceChildren(figure({ id: 'user', title: 'Your query', query: userQuery, ...common, result: r.value, error: r.reason }));
  }
}

// qosFigures draws one chart per QoS metric the cells report, since fps
// and milliseconds do not share an axis.
function qosFigures(r, common) {
  if (r.status === 'rejected') {
    return [figure({ id: 'qos', title: 'Cell QoS', query: QOS_QUERY, ...common, error: r.reason })];
  }
  const byMetric = new Map();
  for (const series of r.value) {
    const m = series.metric?.metric ?? '';
    byMetric.set(m, [...(byMetric.get(m) ?? []), series]);
  }
  if (byMetric.size === 0) {
    return [figure({ id: 'qos', title: 'Cell QoS', query: QOS_QUERY, ...common, result: [], emptyText: 'No running cell reports QoS metrics yet.' })];
  }
  return [...byMetric.keys()].sort().map((m) =>
    figure({ id: `qos-${m}`, title: `Cell QoS: ${m}`, query: `${QOS_QUERY}{metric="${m}"}`, ...common, result: byMetric.get(m) }));
}

function askForToken() {
  const form = $('token-form');
  const refused = token() !== '';
  document.body.classList.add('needs-token');
  form.hidden = false;
  $('token-error').hidden = !refused;
  $('token-error').textContent = refused ? 'The control plane refused this token (401): check it and try again.' : '';
  $('token-forget').hidden = !refused;
  const status = $('status');
  status.dataset.state = 'token';
  status.textContent = 'Token needed';
}

function tokenAccepted() {
  $('token-forget').hidden = token() === '';
  if ($('token-form').hidden) return;
  $('token-form').hidden = true;
  document.body.classList.remove('needs-token');
}

function start() {
  const refreshNow = every(REFRESH_MS, refresh);
  const metricsNow = every(METRICS_MS, refreshMetrics);

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setToken($('token-input').value.trim());
    $('token-input').value = '';
    refreshNow();
    metricsNow();
  });
  $('token-forget').addEventListener('click', () => {
    setToken('');
    refreshNow();
    metricsNow();
  });

  const input = $('query-input');
  try {
    input.value = localStorage.getItem(QUERY_KEY) ?? '';
  } catch {
    // storage disabled
  }
  input.dataset.active = input.value.trim();
  $('query-form').addEventListener('submit', (e) => {
    e.preventDefault();
    input.dataset.active = input.value.trim();
    try {
      localStorage.setItem(QUERY_KEY, input.dataset.active);
    } catch {
      // storage disabled
    }
    metricsNow();
  });

  refreshNow();
  metricsNow();
}

start();
