// The sections of the page, each a function from API answers to DOM nodes.
// Elements carry data attributes (data-site, data-app, data-phase...) so
// that people's scripts and our tests can find them without parsing text.

import { h } from './dom.js';
import { ago, cpuCores, goDuration, localTime, seconds } from './format.js';

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
