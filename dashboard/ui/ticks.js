// The Learning Plane agents' logs (GET /api/v1/agents/NAME/ticks), kept
// in the page and fetched only when an agent's status says it ticked
// since the last fetch: an idle agent costs no request, and a busy one
// costs only its new ticks (plus one already held, to check that none
// was missed), not its whole log every 2 s.

// TICKS_KEPT is how many of an agent's last ticks the page holds and charts.
export const TICKS_KEPT = 120;

// TickLogs holds the last TICKS_KEPT ticks of each agent.
export class TickLogs {
  // fetchTicks(name, limit) answers the agent's last limit ticks, oldest first.
  constructor(fetchTicks) {
    this.fetchTicks = fetchTicks;
    this.logs = new Map(); // name → {mark, count, ticks, version, error}
  }

  // update brings the logs in line with the agents' statuses (a list
  // answer of GET /api/v1/agents) and forgets the agents no longer listed.
  async update(agents) {
    const names = new Set(agents.map((a) => a.metadata.name));
    for (const name of this.logs.keys()) {
      if (!names.has(name)) this.logs.delete(name);
    }
    await Promise.all(agents.map((a) => this.updateOne(a.metadata.name, a.status ?? {})));
  }

  // get answers {ticks, version, error} for an agent: version changes
  // whenever ticks do; error is the last failed fetch, if the one after
  // has not succeeded.
  get(name) {
    const log = this.logs.get(name);
    return log ? { ticks: log.ticks, version: log.version, error: log.error } : { ticks: [], version: 0, error: null };
  }

  async updateOne(name, status) {
    const was = this.logs.get(name) ?? { mark: '', count: 0, ticks: [], version: 0, error: null };
    const count = status.ticks ?? 0;
    const mark = `${count}@${status.lastTick ?? ''}`;
    if (mark === was.mark) return;
    const now = { ...was, mark, count, error: null };
    try {
      now.ticks = count === 0 ? [] : await this.fetchNew(name, was, count);
      now.version = was.version + 1;
    } catch (err) {
      // Keep what was shown and the old mark, so the next refresh retries.
      now.mark = was.mark;
      now.count = was.count;
      now.error = err;
    }
    this.logs.set(name, now);
  }

  // fetchNew answers the agent's last TICKS_KEPT ticks, asking only for
  // those it has not seen when it can.
  async fetchNew(name, was, count) {
    const fresh = count - was.count;
    if (was.ticks.length > 0 && fresh > 0 && fresh < TICKS_KEPT) {
      const limit = fresh + 1;
      const merged = mergeTicks(was.ticks, await this.fetchTicks(name, limit), limit);
      if (merged) return merged;
    }
    return (await this.fetchTicks(name, TICKS_KEPT)).slice(-TICKS_KEPT);
  }
}

// mergeTicks appends newer, the answer to a request for the last limit
// ticks, to held, and keeps the last TICKS_KEPT. It answers null when the
// two may not meet (more ticks came than were asked for, or the log was
// replaced): then the caller fetches the whole window again. An answer
// shorter than limit is the whole log the server keeps.
export function mergeTicks(held, newer, limit) {
  if (newer.length < limit) return newer.slice(-TICKS_KEPT);
  const from = Date.parse(newer[0].time);
  const last = Date.parse(held[held.length - 1].time);
  if (!(from <= last)) return null;
  const before = held.filter((t) => Date.parse(t.time) < from);
  return [...before, ...newer].slice(-TICKS_KEPT);
}
