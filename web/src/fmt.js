// fmt.js: number and time formatting shared by the panels and charts.

// Decimals needed to print x exactly (prices arrive as JSON numbers printed by tickd without float noise).
export function decimalsOf(x) {
  if (!Number.isFinite(x)) return 0;
  const s = String(x);
  if (s.includes('e')) return 8;
  const i = s.indexOf('.');
  return i < 0 ? 0 : Math.min(8, s.length - i - 1);
}

// Per-symbol display precision: at least 2, grown to the most decimals seen (so 0.00012 shows right).
const precision = new Map();
export function notePrecision(symbol, price) {
  const d = Math.max(2, decimalsOf(price));
  const cur = precision.get(symbol) || 2;
  if (d > cur) precision.set(symbol, d);
  return Math.max(cur, d);
}
export function precisionOf(symbol) { return precision.get(symbol) || 2; }

export function fmtPrice(symbol, x) {
  if (x === undefined || x === null || !Number.isFinite(+x)) return '—';
  return (+x).toFixed(precisionOf(symbol));
}

export function fmtSize(x) {
  if (x === undefined || x === null || !Number.isFinite(+x)) return '—';
  x = +x;
  const a = Math.abs(x);
  if (a >= 1e9) return (x / 1e9).toFixed(2) + 'B';
  if (a >= 1e6) return (x / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (x / 1e3).toFixed(1) + 'K';
  return Number.isInteger(x) ? String(x) : String(+x.toFixed(8));
}

export function fmtTimeMs(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function fmtAge(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 3600000) return Math.round(ms / 60000) + ' min';
  return (ms / 3600000).toFixed(1) + ' h';
}

export function fmtRate(x) {
  if (!Number.isFinite(x)) return '—';
  if (x >= 1e6) return (x / 1e6).toFixed(2) + 'M/s';
  if (x >= 1e4) return (x / 1e3).toFixed(1) + 'K/s';
  return Math.round(x) + '/s';
}

// Small DOM helper: el('div.a.b', {title: 'x'}, child, 'text').
export function el(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (classes.length) e.className = classes.join(' ');
  if (attrs) for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
