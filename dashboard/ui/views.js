// The sections of the page, each a function from API answers to DOM nodes.
// Elements carry data attributes (data-site, data-app, data-phase...) so
// that people's scripts and our tests can find them without parsing text.

import { figure } from './chart.js';
import { h } from './dom.js';
import { ago, cpuCores, goDuration, localTime, seconds, shorten } from './format.js';

const dash = '—';

function badge(phase) {
  const p = phase || 'Unknown';
  return h('span', { class: `badge phase-${p.replace(/[^A-Za-z]/g, '')}`, dataset: { phase: p } }, p);
}

function empty(columns, ...text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: columns }, text));
}

function chips(labels) {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return dash;
  return entries.map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`));
}

// coresUsed adds up, per site, the CPU requests of the application replicas
// running there: each replica asks for its block's resources.cpu.
export function coresUsed(apps, blocks) {
  const cpuOf = new Map();
  for (const b of blocks) cpuOf.set(`${b.metadata.name}@${b.spec.version}`, cpuCores(b.spec.resources?.cpu));
  const used = new Map();
  for (const a of apps) {
    for (const c of a.status?.components ?? []) {
      const cpu = cpuOf.get(c.block) ?? 0;
      for (const r of c.replicas ?? []) {
        if (r.phase === 'Running' && r.site) used.set(r.site, (used.get(r.site) ?? 0) + cpu);
      }
    }
  }
  return used;
}

export function sitesRows(sites, used, now) {
  if (sites.length === 0) return empty(7, 'No sites yet: start ', h('code', {}, 'cloudskin agent'), ' on a host.');
  return sites.map((site) => {
    const name = site.metadata.name;
    const st = site.status ?? {};
    const cap = site.spec.capacity ?? {};
    const u = used.get(name) ?? 0;
    return h('tr', { dataset: { site: name, phase: st.phase || 'Unknown' } },
      h('td', { class: 'name' }, name),
      h('td', {}, site.spec.type),
      h('td', {}, badge(st.phase), st.message ? h('div', { class: 'muted small' }, st.message) : null),
      h('td', { class: 'num', dataset: { coresUsed: Number(u.toFixed(3)) } }, `${Number(u.toFixed(2))} / ${cap.cores ?? dash}`),
      h('td', { class: 'num' }, cap.memory ?? dash),
      h('td', {}, chips(site.metadata.labels)),
      h('td', { title: st.lastHeartbeatTime ? localTime(st.lastHeartbeatTime) : null },
        st.lastHeartbeatTime ? ago(st.lastHeartbeatTime, now) : dash));
  });
}

export function catalogRows(blocks) {
  if (blocks.length === 0) return empty(7, 'The catalog is empty: publish a block with ', h('code', {}, 'cloudskin apply -f block.yaml'), '.');
  return blocks.map((b) => {
    const spec = b.spec ?? {};
    return h('tr', { dataset: { block: `${b.metadata.name}@${spec.version}` } },
      h('td', { class: 'name' }, b.metadata.name),
      h('td', {}, spec.version),
      h('td', {}, spec.type),
      h('td', {}, spec.description || dash),
      h('td', { class: 'num' }, spec.resources?.cpu ?? dash),
      h('td', { class: 'num' }, spec.resources?.memory ?? dash),
      h('td', {}, spec.parameters?.length ? spec.parameters.map((p) =>
        h('span', { class: 'chip', title: p.description || null }, p.default !== undefined ? `${p.name}=${p.default}` : p.name)) : dash));
  });
}

// latestDecisions maps "app/component/replica" to the newest placement
// decision for that replica (a replica is placed again when it moves).
export function latestDecisions(placements) {
  const out = new Map();
  for (const p of placements) {
    for (const d of p.decisions ?? []) {
      const key = `${p.application}/${d.component}/${d.replica}`;
      const was = out.get(key);
      if (!was || Date.parse(d.time) >= Date.parse(was.time)) out.set(key, d);
    }
  }
  return out;
}

// latestMoves maps "app/component/replica" to the newest finished move of
// that replica: {migration, to}.
export function latestMoves(migrations) {
  const out = new Map();
  const when = (m) => Date.parse(m.status?.finishTime ?? m.status?.startTime ?? '') || 0;
  for (const m of [...migrations].sort((a, b) => when(a) - when(b))) {
    for (const mv of m.status?.moves ?? []) {
      if (mv.done) out.set(`${m.spec.application}/${m.spec.component}/${mv.replica}`, { migration: m.metadata.name, to: mv.to });
    }
  }
  return out;
}

// placementText explains where a replica is: the placement's reason, and
// the migration that took it elsewhere since.
function placementText(d, move, site) {
  if (!d) return dash;
  const reason = d.reason + learnedText(d);
  if (!site || d.site === site) return reason;
  const by = move && move.to === site ? ` by migration ${move.migration}` : '';
  return `${reason}; since moved to ${site}${by}`;
}

// learnedText is the Learning Plane's part in a decision: its term in the
// winning site's score ("learned 2.00×0.97 (fps 29.9 (n=240) …)").
function learnedText(d) {
  const won = (d.candidates ?? []).find((c) => c.site === d.site);
  const learned = won?.reasons?.find((r) => r.startsWith('learned '));
  return learned ? `; Learning Plane: ${learned.slice('learned '.length)}` : '';
}

function candidatesText(d) {
  return (d.candidates ?? []).map((c) =>
    `${c.site}: ${c.feasible ? 'score ' + (c.score ?? 0).toFixed(3) : 'not feasible'}${c.reasons?.length ? ' (' + c.reasons.join(', ') + ')' : ''}`).join('\n');
}

export function appCards(apps, decisions, moves) {
  if (apps.length === 0) return h('p', { class: 'muted' }, 'No applications: deploy one with ', h('code', {}, 'cloudskin apply -f app.yaml'), '.');
  return apps.map((a) => appCard(a, decisions, moves));
}

function appCard(a, decisions, moves) {
  const name = a.metadata.name;
  const st = a.status ?? {};
  const comps = st.components ?? [];
  const ready = comps.reduce((n, c) => n + (c.ready ?? 0), 0);
  const desired = comps.reduce((n, c) => n + (c.desired ?? 0), 0);
  const phase = st.phase || 'Pending';
  const problems = (st.conditions ?? []).filter((c) => c.status !== 'True');
  return h('article', { class: 'app', dataset: { app: name, phase } },
    h('header', {},
      h('h3', {}, name), badge(phase),
      h('span', { class: 'ready', dataset: { ready, desired } }, `${ready}/${desired} ready`),
      h('span', { class: 'muted' }, `generation ${a.metadata.generation ?? dash}`,
        st.observedGeneration && st.observedGeneration !== a.metadata.generation ? ` (status of ${st.observedGeneration})` : '')),
    problems.length ? h('ul', { class: 'conditions' }, problems.map((c) =>
      h('li', { dataset: { condition: c.type, status: c.status } },
        h('strong', {}, `${c.type} ${c.status}`), c.reason ? ` (${c.reason})` : '', c.message ? `: ${c.message}` : ''))) : null,
    h('table', { class: 'replicas' },
      h('thead', {}, h('tr', {},
        ['Replica', 'Workload', 'Site', 'Phase', 'Restarts', 'Placement'].map((t) => h('th', {}, t)))),
      h('tbody', {}, comps.length === 0 ? empty(6, 'Nothing placed yet.') : comps.map((c) => componentRows(name, c, decisions, moves)))));
}

function componentRows(app, c, decisions, moves) {
  const head = h('tr', { class: 'component', dataset: { component: c.name } },
    h('td', { colspan: 6 },
      h('strong', {}, c.name), ' ', h('span', { class: 'muted' }, c.block || ''), ' ',
      h('span', { class: 'ready', dataset: { ready: c.ready ?? 0, desired: c.desired ?? 0 } }, `${c.ready ?? 0}/${c.desired ?? 0} ready`)));
  const rows = (c.replicas ?? []).map((r) => {
    const key = `${app}/${c.name}/${r.index}`;
    const d = decisions.get(key);
    return h('tr', { dataset: { replica: key, component: c.name, site: r.site || '', phase: r.phase || 'Unknown' } },
      h('td', { class: 'num' }, String(r.index)),
      h('td', { class: 'mono' }, r.name),
      h('td', { class: 'name' }, r.site || dash),
      h('td', {}, badge(r.phase), r.message ? h('div', { class: 'muted small' }, r.message) : null),
      h('td', { class: 'num' }, String(r.restarts ?? 0)),
      h('td', { class: 'reason', title: d ? candidatesText(d) : null }, placementText(d, moves.get(key), r.site)));
  });
  return [head, rows];
}

export function migrationRows(migrations) {
  if (migrations.length === 0) return empty(8, 'No migrations: move a component with ', h('code', {}, 'cloudskin migrate APP/COMPONENT --to SITE'), '.');
  const started = (m) => Date.parse(m.status?.startTime ?? '') || 0;
  return [...migrations].sort((a, b) => started(b) - started(a)).map((m) => {
    const spec = m.spec ?? {};
    const st = m.status ?? {};
    const moves = st.moves ?? [];
    const downtime = moves.length ? moves.map((mv) => seconds(goDuration(mv.downtime))).join(', ') : dash;
    const what = `${spec.application}/${spec.component}${spec.replica !== undefined && spec.replica !== null ? ' #' + spec.replica : ''}`;
    return h('tr', { dataset: { migration: m.metadata.name, phase: st.phase || 'Pending' } },
      h('td', { class: 'name' }, m.metadata.name),
      h('td', {}, what),
      h('td', {}, spec.to),
      h('td', {}, badge(st.phase || 'Pending')),
      h('td', {}, st.method || dash),
      h('td', { class: 'num' }, downtime),
      h('td', { title: st.startTime ? localTime(st.startTime) : null }, st.startTime ? ago(st.startTime) : dash),
      h('td', {}, st.message || ''));
  });
}

// agentRows shows the Learning Plane's agents as `cloudskin lp agents ls`
// does, with the last action and error of `lp agents logs`, and under each
// predictive-scaling agent a chart of its input against its forecast.
// logOf(name) answers the agent's last ticks ({ticks, error}, ticks.js).
export function agentRows(agents, logOf, now) {
  if (agents.length === 0) return empty(8, 'No agents: create one with ', h('code', {}, 'cloudskin apply -f examples/learning/scaler.yaml'), '.');
  return agents.map((a) => {
    const log = logOf(a.metadata.name);
    return [agentRow(a, log, now), predicts(a) ? agentChartRow(a, log.ticks) : null];
  });
}

const DECISION_CHARS = 80;

function agentRow(a, log, now) {
  const name = a.metadata.name;
  const spec = a.spec ?? {};
  const st = a.status ?? {};
  const last = log.ticks.length ? log.ticks[log.ticks.length - 1] : null;
  const policy = spec.policy?.type ?? '';
  const model = lastModel(log.ticks) || (st.modelVersion ? `model v${st.modelVersion}` : '');
  const state = st.lastError ? 'failed' : st.ticks ? 'ok' : 'waiting';
  return h('tr', { dataset: { agent: name, policy, ticks: st.ticks ?? 0, state } },
    h('td', { class: 'name' }, name),
    h('td', {}, policy || dash, model ? h('div', { class: 'muted small', dataset: { model } }, model) : null),
    h('td', { class: 'num' }, triggerText(spec.trigger)),
    h('td', {}, h('span', { class: 'mono' }, actuatorText(spec.actuator)),
      spec.dryRun ? [' ', h('span', { class: 'badge dry-run', dataset: { dryRun: '' }, title: 'decides and logs, never acts' }, 'dry run')] : null),
    h('td', { class: 'num', dataset: { ticks: st.ticks ?? 0 } }, String(st.ticks ?? 0)),
    h('td', { class: 'num', title: st.lastTick ? localTime(st.lastTick) : null }, st.lastTick ? ago(st.lastTick, now) : dash),
    h('td', { class: 'reason decision', title: st.lastDecision || null, dataset: { decision: '' } }, st.lastDecision ? shorten(st.lastDecision, DECISION_CHARS) : dash,
      st.lastError ? h('div', { class: 'error small', dataset: { lastError: '' } }, st.lastError) : null,
      log.error ? h('div', { class: 'error small', dataset: { logError: '' } }, `cannot read its log: ${log.error.message ?? log.error}`) : null),
    h('td', { class: 'reason', dataset: { action: '' } }, last?.action || dash));
}

// triggerText is the trigger as `lp agents ls` writes it.
function triggerText(trigger) {
  if (trigger?.cron) return trigger.cron;
  return trigger?.interval ? `every ${trigger.interval}` : dash;
}

// actuatorText is the actuator as `lp agents ls` writes it:
// application:APP/COMPONENT, kubernetes:NS/NAME, stream or none.
function actuatorText(act) {
  const kind = act?.type || 'none';
  if (act?.application) return `${kind}:${act.application}/${act.component ?? ''}`;
  if (act?.deployment) return `${kind}:${act.namespace ?? ''}/${act.deployment}`;
  return kind;
}

// predicts is true for an agent whose ticks are worth a chart: a
// predictive-scaling agent, whose prediction is its input's forecast (its
// chart says "no ticks yet" until it has some). Other policies predict in
// other units (minutes until a pre-warm, a site's score), which a chart
// against the input would mislead about.
function predicts(a) {
  return a.spec?.policy?.type === 'predictive-scaling';
}

// agentChartRow draws, over the agent's last ticks, its first sensor's
// last value and the first number of its prediction: for predictive
// scaling, the load and the forecast peak the replicas were sized for,
// which runs ahead of the load it forecasts.
function agentChartRow(a, ticks) {
  const name = a.metadata.name;
  const sensor = a.spec?.sensors?.[0];
  const input = sensor?.name ?? Object.keys(ticks[ticks.length - 1]?.inputs ?? {})[0] ?? 'input';
  const times = ticks.map((t) => Date.parse(t.time) / 1000);
  const line = (label, value) => {
    const points = ticks.map((t, i) => [times[i], value(t)]).filter(([t]) => Number.isFinite(t));
    const finite = points.filter(([, v]) => Number.isFinite(v));
    return { label, points, last: finite.length ? finite[finite.length - 1][1] : NaN };
  };
  const series = ticks.length === 0 ? [] : [
    line(`${input} (input)`, (t) => num(t.inputs?.[input]?.last)),
    line(`prediction${lastModel(ticks) ? ': ' + lastModel(ticks) : ''}`, (t) => num(t.prediction?.[0])),
  ];
  const step = medianStep(times);
  return h('tr', { class: 'agent-chart', dataset: { chartOf: name } },
    h('td', { colspan: 8 }, figure({
      id: 'agent', series, step,
      title: `${input} and the prediction, last ${ticks.length} ticks`, query: sensor?.query,
      start: times.length ? times[0] : 0, end: times.length ? times[times.length - 1] : 0,
      emptyText: 'No ticks yet.',
    })));
}

// lastModel is the model the last tick that predicted named (a failed
// tick names none).
const lastModel = (ticks) => ticks.findLast((t) => t.model)?.model ?? '';

const num = (v) => (typeof v === 'number' ? v : NaN);

// medianStep is the usual spacing of the ticks in seconds (1 for fewer
// than two): a gap of more than two of them (a restart) lifts the pen.
function medianStep(times) {
  const gaps = times.slice(1).map((t, i) => t - times[i]).filter((d) => d > 0).sort((x, y) => x - y);
  return gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1;
}
