// Formatting numbers, quantities, durations and times for people.

// si writes v with at most three significant digits and an SI prefix: 1.23k, 45m.
export function si(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n']];
  for (const [scale, prefix] of units) {
    if (a >= scale) return trim(v / scale) + prefix;
  }
  return v.toExponential(2);
}

function trim(x) {
  return String(Number(x.toPrecision(3)));
}

// cpuCores reads a Kubernetes CPU quantity ("100m", "2", "0.5") as cores; 0 if unreadable.
export function cpuCores(q) {
  if (typeof q !== 'string' || q === '') return 0;
  const m = /^([0-9.]+)(m?)$/.exec(q);
  if (!m) return 0;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return 0;
  return m[2] === 'm' ? n / 1000 : n;
}

// goDuration reads a Go duration string ("1.5ms", "2m3s") as seconds, or NaN.
export function goDuration(d) {
  if (typeof d !== 'string' || d === '') return NaN;
  if (d === '0s') return 0;
  const scale = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /([0-9.]+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m; (m = re.exec(d)); ) {
    total += Number(m[1]) * scale[m[2]];
    at = re.lastIndex;
  }
  return at === d.length ? total : NaN;
}

// seconds writes a duration given in seconds: 850µs, 12.3ms, 4.56s, 3m 20s.
export function seconds(v) {
  if (!Number.isFinite(v)) return '—';
  if (v < 1) return si(v) + 's';
  if (v < 60) return trim(v) + 's';
  if (v < 3600) return `${Math.floor(v / 60)}m ${Math.round(v % 60)}s`;
  return `${Math.floor(v / 3600)}h ${Math.round((v % 3600) / 60)}m`;
}

// ago writes how long before now the RFC 3339 time t was: "4s ago".
export function ago(t, now = Date.now()) {
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// clock writes a time as HH:MM (or HH:MM:SS with withSeconds) in local time.
export function clock(date, withSeconds = false) {
  const pad = (n) => String(n).padStart(2, '0');
  const hm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(date.getSeconds())}` : hm;
}

// localTime writes an RFC 3339 time in the reader's time zone, or '—'.
export function localTime(t) {
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : '—';
}

// shorten cuts s to at most n characters, the last an ellipsis, as the
// CLI's tables do.
export function shorten(s, n) {
  const chars = [...s];
  return chars.length > n ? chars.slice(0, n - 1).join('') + '…' : s;
}
