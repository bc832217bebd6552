// Building DOM nodes. Text from the API only ever becomes a text node or an
// attribute value set with setAttribute, never markup: nothing in this page
// parses HTML from a string, so an API value cannot inject elements.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h makes an HTML element: h('td', {class: 'x', dataset: {site: 'edge'}}, 'text', child).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s makes an SVG element, the same way.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') {
      for (const [k, v] of Object.entries(value)) {
        if (v !== undefined && v !== null) el.dataset[k] = String(v);
      }
    } else if (name.startsWith('on')) {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace puts children in place of el's, unless the data they were made
// from is what el already shows: re-rendering unchanged data every two
// seconds would lose the reader's text selection for nothing.
export function replace(el, key, make) {
  if (rendered.get(el) === key) return;
  el.replaceChildren(...[make()].flat(Infinity).filter((c) => c));
  rendered.set(el, key);
}

const rendered = new WeakMap();

// showError fills a section's error line, or hides it for null.
export function showError(section, err) {
  const p = section.querySelector('[data-error]');
  if (!p) return;
  p.hidden = !err;
  p.textContent = err ? String(err.message ?? err) : '';
}
