// Line charts of PromQL range queries and of agents' ticks, drawn as SVG.
// A chart library would be the largest file of the page for what is a few
// paths, a grid and a legend.

import { h, s } from './dom.js';
import { si, clock } from './format.js';

// Drawing area, in SVG units; CSS scales the whole to the column's width.
const W = 560;
const H = 200;
const PAD = { left: 46, right: 10, top: 10, bottom: 22 };
// Beyond this many series a chart is unreadable: the highest are drawn
// and the legend says how many were left out.
const MAX_SERIES = 8;

// figure returns a <figure> for one query: its title, the chart or a note
// (error, no data), and a legend. result is the matrix of a range query
// (Prometheus JSON: [{metric: {...}, values: [[t, "v"], ...]}]); or
// series gives the lines ready made ([{label, points: [[t, v]], last}]),
// drawn in that order, so each keeps its colour from chart to chart.
export function figure({ id, title, query, result, series, error, start, end, step, emptyText = 'no data' }) {
  const fig = h('figure', { class: 'chart', dataset: { chart: id, query } },
    h('figcaption', {}, h('span', { class: 'title' }, title), query ? [' ', h('code', {}, query)] : null));
  if (error) {
    fig.dataset.state = 'error';
    fig.append(h('p', { class: 'error chart-note' }, error.message ?? String(error)));
    return fig;
  }
  const all = series ?? toSeries(result ?? []);
  fig.dataset.series = String(all.length);
  if (all.length === 0) {
    fig.dataset.state = 'empty';
    fig.append(h('p', { class: 'muted chart-note' }, emptyText));
    return fig;
  }
  fig.dataset.state = 'ok';
  // The highest series, in the order of their labels, so that a series
  // keeps its colour while values cross.
  const shown = series ? all.slice(0, MAX_SERIES) : all.slice(0, MAX_SERIES).sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  fig.append(chart(shown, start, end, step), legend(shown, all.length - shown.length));
  return fig;
}

// toSeries turns a matrix into [{label, points, last}], highest last value first.
export function toSeries(result) {
  const labels = labelTexts(result.map((r) => r.metric ?? {}));
  const series = result.map((r, i) => {
    const points = (r.values ?? []).map(([t, v]) => [Number(t), Number(v)]).filter(([t]) => Number.isFinite(t));
    const finite = points.filter(([, v]) => Number.isFinite(v));
    return { label: labels[i], points, last: finite.length ? finite[finite.length - 1][1] : NaN };
  });
  return series.sort((a, b) => (Number.isFinite(b.last) ? b.last : -Infinity) - (Number.isFinite(a.last) ? a.last : -Infinity) || a.label.localeCompare(b.label));
}

// labelTexts names each series by the labels that tell it from the others
// (all of its labels when it is alone), in PromQL's {k="v"} form.
export function labelTexts(metrics) {
  const keys = new Set(metrics.flatMap((m) => Object.keys(m)));
  let varying = [...keys].filter((k) => new Set(metrics.map((m) => m[k] ?? '')).size > 1).sort();
  if (metrics.length === 1) varying = [...keys].filter((k) => k !== '__name__').sort();
  return metrics.map((m) => {
    const name = metrics.length === 1 || varying.includes('__name__') ? m.__name__ ?? '' : '';
    const pairs = varying.filter((k) => k !== '__name__' && m[k] !== undefined).map((k) => `${k}="${m[k]}"`);
    const text = name + (pairs.length ? `{${pairs.join(', ')}}` : '');
    return text || '{}';
  });
}

// niceTicks picks about count round values covering [lo, hi].
export function niceTicks(lo, hi, count = 4) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((x) => x >= raw);
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: first, hi: last, ticks };
}

// LABEL_SPACINGS are the round spacings of time labels, in seconds.
const LABEL_SPACINGS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

// labelEvery is the smallest round spacing that puts at most six time
// labels on a span of seconds: five minutes for the 15-minute window of
// the metrics, seconds for an agent that ticks every second.
export function labelEvery(span) {
  return LABEL_SPACINGS.find((e) => span / e <= 6) ?? Math.ceil(span / 6 / 86400) * 86400;
}

function chart(series, start, end, step) {
  const values = series.flatMap((x) => x.points.map(([, v]) => v)).filter(Number.isFinite);
  const { lo, hi, ticks } = niceTicks(Math.min(0, ...values), Math.max(...values, 0));
  if (!(end > start)) start = end - 1; // a lone sample: a dot at the right edge
  const x = (t) => PAD.left + ((t - start) / (end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot', role: 'img' });
  for (const v of ticks) {
    svg.append(
      s('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, si(v)));
  }
  const every = labelEvery(end - start);
  for (let t = Math.ceil(start / every) * every; t <= end; t += every) {
    svg.append(s('text', { class: 'axis', x: x(t), y: H - 6, 'text-anchor': 'middle' }, clock(new Date(t * 1000), every < 60)));
  }
  series.forEach((ser, i) => {
    svg.append(s('path', { class: `series c${i}`, d: pathOf(ser.points, x, y, step), dataset: { label: ser.label } },
      s('title', {}, ser.label)));
  });
  return svg;
}

// pathOf draws the points as lines, lifting the pen over missing samples
// (gaps longer than two steps, or values that are not numbers).
function pathOf(points, x, y, step) {
  let d = '';
  let prev = null;
  for (const [t, v] of points) {
    if (!Number.isFinite(v)) {
      prev = null;
      continue;
    }
    const pen = prev === null || t - prev > 2 * step ? 'M' : 'L';
    d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    if (pen === 'M') d += 'l0,0'; // a lone sample still shows as a dot
    prev = t;
  }
  return d || 'M0,0';
}

function legend(series, more) {
  return h('ul', { class: 'legend' },
    series.map((ser, i) => h('li', {},
      h('span', { class: `swatch c${i}` }),
      h('span', { class: 'label' }, ser.label),
      h('span', { class: 'value' }, Number.isFinite(ser.last) ? si(ser.last) : '—'))),
    more > 0 ? h('li', { class: 'muted' }, `and ${more} more series`) : null);
}
