// main.js: the dashboard page. Wires one Conn (the page's only WebSocket), the chart grid, the side panels
// for the active symbol, the header (symbol search, add chart, theme, API key, connection state) and the
// layout kept in localStorage. window.__tickd exposes read-only state for the browser tests.

import './style.css';
import { Api, INTERVALS } from './api.js';
import { Conn } from './conn.js';
import { ChartPane } from './chartpane.js';
import { DepthPanel, HealthPanel, NbboPanel, TapePanel, DEPTH } from './panels.js';
import { el } from './fmt.js';

const LS_LAYOUT = 'tickd.layout.v1';
const LS_THEME = 'tickd.theme';
const LS_KEY = 'tickd.apiKey';
const MAX_PANES = 9;
// The first visit: a 2x2 grid that shows movement at once even on a tickd that just started (1 s and
// 10 s charts fill within a minute). Symbols the server does not have are swapped for ones it has.
const DEFAULT_LAYOUT = {
  panes: [{ symbol: 'AAPL', interval: '1m' }, { symbol: 'MSFT', interval: '1s' }, { symbol: 'NVDA', interval: '10s' }, { symbol: 'TSLA', interval: '1s' }],
  active: 0,
};

// ?layout=AAPL:1m,MSFT:1s (a shareable link; one-shot, like ?layout=reset for the default grid).
function layoutFromParam(v) {
  if (v === 'reset') return DEFAULT_LAYOUT;
  const panes = String(v).split(',').map((x) => x.trim().split(':')).filter(([sym]) => /^[A-Za-z0-9._\-\/]{1,31}$/.test(sym || ''))
    .map(([symbol, interval]) => ({ symbol: symbol.toUpperCase(), interval: INTERVALS.includes(interval) ? interval : '1m' }));
  return panes.length ? { panes, active: 0 } : null;
}

function loadJson(key, dflt) {
  try { const v = JSON.parse(localStorage.getItem(key)); return v ?? dflt; } catch { return dflt; }
}

class App {
  constructor() {
    const params = new URLSearchParams(location.search);
    this.apiKey = params.get('api_key') || localStorage.getItem(LS_KEY) || '';
    if (params.has('api_key')) { // given once in the URL: kept, and taken out of the address bar
      try { localStorage.setItem(LS_KEY, this.apiKey); } catch { /* private mode */ }
      params.delete('api_key');
      history.replaceState(null, '', location.pathname + (params.size ? '?' + params : '') + location.hash);
    }
    this.api = new Api('', this.apiKey);
    this.conn = new Conn({ url: '/v1/prices', apiKey: this.apiKey });
    this.panes = [];
    this.active = null;
    this.activeSymbol = '';
    this.symbols = [];
    this.errors = [];
    this.byKey = new Map(); // "SYM|iv" -> Set(pane)
    this._buildDom();
    this._applyTheme(localStorage.getItem(LS_THEME) || (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
    this._wire();
    this._keyLabel();
    let layout = params.has('layout') ? layoutFromParam(params.get('layout')) : loadJson(LS_LAYOUT, null);
    if (!layout || !Array.isArray(layout.panes) || !layout.panes.length) layout = DEFAULT_LAYOUT;
    this.defaultLayout = layout === DEFAULT_LAYOUT;
    if (params.has('layout')) { // one-shot: a reload keeps what the user builds from here
      params.delete('layout');
      history.replaceState(null, '', location.pathname + (params.size ? '?' + params : '') + location.hash);
    }
    for (const p of layout.panes.slice(0, MAX_PANES)) this.addPane(p.symbol, p.interval, false);
    this.setActive(this.panes[Math.min(this.panes.length - 1, Math.max(0, layout.active | 0))]);
    this.conn.start();
    this.health.start();
    this._loadSymbols();
  }

  _buildDom() {
    this.statusEl = el('button.conn', { 'data-state': 'connecting', title: 'Connection to tickd', onclick: () => this.conn.retryNow() }, el('span.dot'), el('span.txt', { text: 'connecting' }));
    this.search = el('input.search', { type: 'search', placeholder: 'Symbol…', 'aria-label': 'Symbol search', autocomplete: 'off', spellcheck: 'false' });
    this.suggest = el('ul.suggest', { role: 'listbox', hidden: true });
    this.ivSel = el('select.iv-default', { 'aria-label': 'Interval for new charts' }, ...INTERVALS.map((iv) => el('option', { value: iv, text: iv, selected: iv === '1m' })));
    this.addBtn = el('button.add', { title: 'Add a chart for the symbol in the search box (or the active one)', text: '+ Chart', onclick: () => this._addFromSearch() });
    this.themeBtn = el('button.theme', { title: 'Dark / light theme', 'aria-label': 'Toggle theme', onclick: () => this._applyTheme(this.theme === 'dark' ? 'light' : 'dark') });
    this.keyBtn = el('button.key', { title: 'API key', text: 'Key', onclick: () => this._editKey() });
    this.header = el('header.top', null,
      el('div.brand', null, el('span.logo', { text: '◆' }), el('span', { text: 'tickd' })),
      el('div.searchbox', null, this.search, this.suggest),
      this.ivSel, this.addBtn, el('div.spacer'), this.statusEl, this.themeBtn, this.keyBtn);
    this.grid = el('main.grid');
    this.nbbo = new NbboPanel();
    this.depth = new DepthPanel();
    this.tape = new TapePanel();
    this.health = new HealthPanel(this);
    // Lightweight Charts' licence asks for this notice on the page (instead of a logo in every chart).
    const attribution = el('div.attribution', null, 'Charts: ', el('a', { href: 'https://www.tradingview.com/', target: '_blank', rel: 'noopener', text: 'TradingView Lightweight Charts™' }));
    this.side = el('aside.side', null, this.nbbo.root, this.depth.root, this.tape.root, this.health.root, attribution);
    this.toast = el('div.toast', { role: 'status', hidden: true });
    document.body.replaceChildren(this.header, el('div.layout', null, this.grid, this.side), this.toast);
  }

  _wire() {
    const c = this.conn;
    c.on('state', (s) => this._renderState(s));
    c.on('open', (o) => {
      // After a reconnect: refill every chart from REST (merged by time, so nothing doubles) and clear
      // panels whose snapshot comes again with the new subscription.
      if (o.connects > 1) {
        for (const p of this.panes) p.onReconnect();
        this.depth.onBook(null);
      }
    });
    c.on('candle', (m) => {
      const set = this.byKey.get(String(m.symbol).toUpperCase() + '|' + m.interval);
      if (set) for (const p of set) p.onCandle(m);
    });
    c.on('nbbo', (m) => {
      const sym = String(m.symbol).toUpperCase();
      for (const p of this.panes) if (p.symbol === sym) p.onNbbo(m);
      if (sym === this.activeSymbol) this.nbbo.onNbbo(m);
    });
    c.on('book', (m) => { if (String(m.symbol).toUpperCase() === this.activeSymbol) this.depth.onBook(m); });
    c.on('trade', (m) => {
      const sym = String(m.symbol).toUpperCase();
      for (const p of this.panes) if (p.symbol === sym) p.onTrade(m);
      if (sym === this.activeSymbol) this.tape.onTrade(m);
    });
    c.on('tick', (m) => {
      const sym = String(m.symbol).toUpperCase();
      for (const p of this.panes) if (p.symbol === sym) p.onTick(+m.price);
    });
    c.on('error', (m) => this.reportError(`tickd: ${m.code || 'error'}: ${m.message || ''}`));

    let timer = 0;
    this.search.addEventListener('input', () => this._renderSuggest());
    this.search.addEventListener('focus', () => this._renderSuggest());
    this.search.addEventListener('blur', () => { timer = setTimeout(() => (this.suggest.hidden = true), 150); });
    this.search.addEventListener('keydown', (e) => {
      const items = [...this.suggest.children];
      let i = items.findIndex((x) => x.classList.contains('sel'));
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        if (!items.length) return;
        i = e.key === 'ArrowDown' ? (i + 1) % items.length : (i - 1 + items.length) % items.length;
        items.forEach((x, k) => x.classList.toggle('sel', k === i));
      } else if (e.key === 'Enter') {
        const sym = i >= 0 ? items[i].dataset.sym : this.search.value.trim().toUpperCase();
        this._pickSymbol(sym, e.shiftKey);
      } else if (e.key === 'Escape') {
        this.search.blur();
      }
    });
    this.suggest.addEventListener('mousedown', (e) => {
      const li = e.target.closest('li');
      if (!li) return;
      clearTimeout(timer);
      e.preventDefault();
      this._pickSymbol(li.dataset.sym, e.shiftKey);
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === '/' && document.activeElement !== this.search) { e.preventDefault(); this.focusSearch(); }
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.conn.retryNow(); });
  }

  async _loadSymbols() {
    try {
      this.symbols = (await this.api.symbols()).sort();
      // Untouched default grid on a server without those symbols (a crypto feed, say): use its own.
      if (this.defaultLayout && this.symbols.length) {
        this.defaultLayout = false;
        const have = new Set(this.symbols), spare = this.symbols.filter((x) => !this.panes.some((p) => p.symbol === x));
        for (const p of this.panes) if (!have.has(p.symbol) && spare.length) p.setSymbol(spare.shift());
      }
    } catch (e) {
      this.reportError('symbols: ' + e.message);
      setTimeout(() => this._loadSymbols(), 5000);
    }
  }

  _renderSuggest() {
    const q = this.search.value.trim().toUpperCase();
    const list = this.symbols.filter((s) => !q || s.includes(q))
      .sort((a, b) => (b.startsWith(q) - a.startsWith(q)) || a.localeCompare(b)).slice(0, 12);
    this.suggest.replaceChildren(...list.map((s, k) => el('li' + (k === 0 && q ? '.sel' : ''), { 'data-sym': s, role: 'option' },
      el('span.sym', { text: s }), el('span.hint', { text: 'Enter: this chart · Shift: new chart' }))));
    this.suggest.hidden = !list.length || document.activeElement !== this.search;
  }

  // Enter: the active chart shows this symbol; Shift+Enter (or the + button): a new chart.
  _pickSymbol(sym, newPane) {
    sym = String(sym || '').trim().toUpperCase();
    if (!sym) return;
    if (newPane || !this.active) this.addPane(sym, this.ivSel.value);
    else this.active.setSymbol(sym);
    this.setActive(this.active);
    this.search.value = '';
    this.suggest.hidden = true;
    this.search.blur();
  }

  _addFromSearch() {
    const sym = this.search.value.trim().toUpperCase() || this.activeSymbol || 'AAPL';
    this.addPane(sym, this.ivSel.value);
    this.search.value = '';
  }

  focusSearch(pane) {
    if (pane) this.setActive(pane);
    this.search.focus();
    this.search.select();
  }

  addPane(symbol, interval, save = true) {
    if (this.panes.length >= MAX_PANES) { this.reportError(`at most ${MAX_PANES} charts`); return null; }
    const p = new ChartPane(this, { symbol: String(symbol).toUpperCase(), interval });
    this.panes.push(p);
    this.grid.append(p.root);
    this._layoutGrid();
    this._index();
    this.setActive(p);
    if (save) this.saveLayout();
    return p;
  }

  removePane(p) {
    const i = this.panes.indexOf(p);
    if (i < 0) return;
    this.panes.splice(i, 1);
    p.destroy();
    this._index();
    this._layoutGrid();
    if (this.active === p) this.setActive(this.panes[Math.min(i, this.panes.length - 1)] || null);
    this.saveLayout();
  }

  _index() {
    this.byKey.clear();
    for (const p of this.panes) {
      if (!this.byKey.has(p.key)) this.byKey.set(p.key, new Set());
      this.byKey.get(p.key).add(p);
    }
  }

  _layoutGrid() {
    const n = this.panes.length;
    const cols = n <= 1 ? 1 : n <= 4 ? 2 : 3;
    this.grid.style.setProperty('--cols', cols);
    this.grid.style.setProperty('--rows', Math.max(1, Math.ceil(n / cols)));
    this.grid.dataset.count = n;
    if (!n) this.grid.replaceChildren(el('div.empty', null, el('p', { text: 'No charts.' }), el('button', { text: '+ Add a chart', onclick: () => this._addFromSearch() })));
    else { const e = this.grid.querySelector('.empty'); if (e) e.remove(); }
  }

  // The side panels follow the active chart's symbol; their channels (book, trades) are wanted only for it.
  setActive(p) {
    if (p && !this.panes.includes(p)) p = null;
    if (this.active && this.active !== p) this.active.setActive(false);
    this.active = p;
    if (p) p.setActive(true);
    this._index();
    const sym = p ? p.symbol : '';
    if (sym !== this.activeSymbol) {
      if (this.activeSymbol) {
        this.conn.unwant(this.activeSymbol, 'book:' + DEPTH);
        this.conn.unwant(this.activeSymbol, 'trade');
        this.conn.unwant(this.activeSymbol, 'nbbo');
      }
      this.activeSymbol = sym;
      if (sym) {
        this.conn.want(sym, 'book:' + DEPTH);
        this.conn.want(sym, 'trade');
        this.conn.want(sym, 'nbbo');
      }
      this.nbbo.setSymbol(sym);
      this.depth.setSymbol(sym);
      this.tape.setSymbol(sym);
    }
    this.saveLayout();
  }

  saveLayout() {
    if (!this.panes) return;
    this._index();
    // A pane's symbol may have changed: keep the side panels on the active chart's symbol.
    if (this.active && this.active.symbol !== this.activeSymbol) queueMicrotask(() => this.setActive(this.active));
    const layout = { panes: this.panes.map((p) => ({ symbol: p.symbol, interval: p.interval })), active: Math.max(0, this.panes.indexOf(this.active)) };
    try { localStorage.setItem(LS_LAYOUT, JSON.stringify(layout)); } catch { /* private mode */ }
  }

  _applyTheme(t) {
    this.theme = t === 'light' ? 'light' : 'dark';
    document.documentElement.dataset.theme = this.theme;
    this.themeBtn.textContent = this.theme === 'dark' ? '☾' : '☀';
    try { localStorage.setItem(LS_THEME, this.theme); } catch { /* private mode */ }
    for (const p of this.panes || []) p.applyTheme();
  }

  // The API key popover under the "Key" button: Save keeps it in localStorage, Clear forgets it.
  _editKey(reason) {
    if (this.keyPop) { this.keyPop.remove(); this.keyPop = null; if (!reason) return; }
    const input = el('input.key-input', { type: 'password', value: this.apiKey, placeholder: 'API key', autocomplete: 'off', 'aria-label': 'API key' });
    const close = () => { if (this.keyPop) { this.keyPop.remove(); this.keyPop = null; } };
    const save = (v) => { close(); this._setKey(v); };
    const pop = el('form.key-pop', { onsubmit: (e) => { e.preventDefault(); save(input.value); } },
      el('div.key-title', { text: reason || 'tickd API key' }),
      el('div.key-hint', { text: 'Kept in this browser; sent as X-API-Key and ?api_key= on the WebSocket.' }),
      input,
      el('div.key-btns', null,
        el('button', { type: 'button', text: 'Clear', onclick: () => save('') }),
        el('button', { type: 'button', text: 'Cancel', onclick: close }),
        el('button.primary', { type: 'submit', text: 'Save' })));
    pop.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
    this.keyPop = pop;
    this.header.append(pop);
    input.focus();
  }

  _keyLabel() {
    this.keyBtn.textContent = this.apiKey ? 'Key ✓' : 'Key';
    this.keyBtn.title = this.apiKey ? 'API key set (click to change)' : 'API key';
  }

  // REST said 401/403: ask for a key once (not again until one is saved).
  needKey() {
    if (this._askedKey) return;
    this._askedKey = true;
    this._editKey(this.apiKey ? 'tickd refused this API key' : 'tickd wants an API key');
  }

  _setKey(v) {
    this._askedKey = false;
    this.apiKey = String(v || '').trim();
    try { if (this.apiKey) localStorage.setItem(LS_KEY, this.apiKey); else localStorage.removeItem(LS_KEY); } catch { /* */ }
    this.api.apiKey = this.apiKey;
    this.conn.setApiKey(this.apiKey);
    this._keyLabel();
    for (const p of this.panes) p.load();
    this._loadSymbols();
  }

  _renderState(s) {
    let txt = s.state;
    if (s.state === 'reconnecting') {
      const secs = Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000));
      txt = s.retryAt > Date.now() ? `reconnecting in ${secs}s` : 'reconnecting…';
      clearTimeout(this._stateTimer);
      if (s.retryAt > Date.now()) this._stateTimer = setTimeout(() => this._renderState({ ...s }), 500);
    }
    this.statusEl.dataset.state = s.state;
    this.statusEl.querySelector('.txt').textContent = txt;
    this.statusEl.title = s.detail ? `Connection to tickd: ${s.detail}` : 'Connection to tickd';
    document.documentElement.dataset.conn = s.state;
  }

  reportError(msg) {
    this.errors.push(msg);
    if (this.errors.length > 50) this.errors.splice(0, this.errors.length - 50);
    this.toast.textContent = msg;
    this.toast.hidden = false;
    clearTimeout(this._toastTimer);
    this._toastTimer = setTimeout(() => (this.toast.hidden = true), 4000);
  }
}

const app = new App();

// Read-only view for the browser tests and for poking at the page from DevTools.
window.__tickd = {
  app,
  state: () => app.conn.state,
  stats: () => ({ ...app.conn.stats }),
  panes: () => app.panes.map((p) => p.snapshot()),
  activeSymbol: () => app.activeSymbol,
  tapeRows: () => app.tape.rows(),
  tapeCount: () => app.tape.count,
  nbbo: () => app.nbbo.m,
  book: () => app.depth.book,
  subscriptions: () => Object.fromEntries([...app.conn.wanted].map(([s, m]) => [s, [...m.keys()]])),
  errors: () => app.errors.slice(),
};
