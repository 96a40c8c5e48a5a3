// panels.js: the side panels for the active symbol (NBBO, depth ladder, tape) and feed health.
// Each panel keeps only its latest state and redraws at most once per animation frame; the tape keeps at
// most TAPE_ROWS rows (DOM nodes are reused, nothing grows).

import { el, fmtAge, fmtPrice, fmtRate, fmtSize, fmtTimeMs, notePrecision } from './fmt.js';

export const TAPE_ROWS = 60;
export const DEPTH = 10;

class Panel {
  constructor(title, cls) {
    this.titleEl = el('h2', { text: title });
    this.extra = el('span.panel-extra');
    this.body = el('div.panel-body');
    this.root = el('section.panel.' + cls, null, el('header', null, this.titleEl, this.extra), this.body);
    this.raf = 0;
  }
  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw(); });
  }
  draw() {}
}

export class NbboPanel extends Panel {
  constructor() {
    super('NBBO', 'nbbo');
    this.symbol = '';
    this.m = null;
    const cell = (cls) => el('div.' + cls);
    this.bidPx = cell('px.up'); this.bidSz = cell('sz'); this.bidEx = cell('ex');
    this.askPx = cell('px.down'); this.askSz = cell('sz'); this.askEx = cell('ex');
    this.spread = el('div.spread');
    this.state = el('span.badge', { text: '—' });
    this.age = el('div.age');
    this.extra.append(this.state);
    this.body.append(
      el('div.nbbo-grid', null,
        el('div.side.bid', null, el('div.lbl', { text: 'Bid' }), this.bidPx, el('div.line', null, this.bidSz, this.bidEx)),
        el('div.side.ask', null, el('div.lbl', { text: 'Ask' }), this.askPx, el('div.line', null, this.askSz, this.askEx))),
      el('div.nbbo-foot', null, this.spread, this.age));
  }
  setSymbol(s) { this.symbol = s; this.m = null; this.schedule(); }
  onNbbo(m) {
    if (Number.isFinite(m.best_bid)) notePrecision(this.symbol, m.best_bid);
    if (Number.isFinite(m.best_ask)) notePrecision(this.symbol, m.best_ask);
    this.m = m;
    this.at = Date.now();
    this.schedule();
  }
  draw() {
    const m = this.m, s = this.symbol;
    this.titleEl.textContent = 'NBBO ' + s;
    if (!m) {
      for (const e of [this.bidPx, this.askPx, this.bidSz, this.askSz, this.bidEx, this.askEx]) e.textContent = '—';
      this.spread.textContent = ''; this.age.textContent = '';
      this.state.textContent = 'waiting'; this.state.dataset.state = 'waiting';
      return;
    }
    this.bidPx.textContent = fmtPrice(s, m.best_bid);
    this.askPx.textContent = fmtPrice(s, m.best_ask);
    this.bidSz.textContent = fmtSize(m.bid_size);
    this.askSz.textContent = fmtSize(m.ask_size);
    this.bidEx.textContent = m.bid_exchange || '';
    this.askEx.textContent = m.ask_exchange || '';
    const st = m.state || 'normal';
    this.state.textContent = st;
    this.state.dataset.state = st;
    this.root.dataset.state = st;
    if (Number.isFinite(m.best_bid) && Number.isFinite(m.best_ask)) {
      const sp = m.best_ask - m.best_bid;
      const mid = (m.best_ask + m.best_bid) / 2;
      this.spread.textContent = `spread ${fmtPrice(s, sp)}  (${mid ? ((sp / mid) * 1e4).toFixed(1) : '—'} bp)`;
    }
    this.age.textContent = m.timestamp ? fmtTimeMs(m.timestamp) : '';
  }
}

export class DepthPanel extends Panel {
  constructor() {
    super('Depth', 'depth');
    this.symbol = '';
    this.book = null;
    this.extra.textContent = 'top ' + DEPTH;
    const row = (side) => {
      const bar = el('div.bar');
      const r = el('div.lvl.' + side, null, bar, el('span.ex'), el('span.sz'), el('span.px'));
      r.bar = bar;
      return r;
    };
    this.askRows = Array.from({ length: DEPTH }, () => row('ask'));
    this.bidRows = Array.from({ length: DEPTH }, () => row('bid'));
    this.mid = el('div.lvl.mid');
    this.body.append(el('div.lvl.hdr', null, el('span.ex', { text: 'Exch' }), el('span.sz', { text: 'Size' }), el('span.px', { text: 'Price' })),
      ...[...this.askRows].reverse(), this.mid, ...this.bidRows);
  }
  setSymbol(s) { this.symbol = s; this.book = null; this.schedule(); }
  onBook(m) { this.book = m; this.schedule(); }
  draw() {
    const s = this.symbol, b = this.book;
    this.titleEl.textContent = 'Depth ' + s;
    const asks = (b && b.asks) || [], bids = (b && b.bids) || [];
    let max = 1;
    for (const l of asks.slice(0, DEPTH)) max = Math.max(max, +l.quantity || 0);
    for (const l of bids.slice(0, DEPTH)) max = Math.max(max, +l.quantity || 0);
    const fill = (rows, levels) => rows.forEach((r, i) => {
      const l = levels[i];
      const [ex, sz, px] = r.children.length === 4 ? [r.children[1], r.children[2], r.children[3]] : [];
      if (!l) { ex.textContent = ''; sz.textContent = ''; px.textContent = ''; r.bar.style.width = '0'; return; }
      if (Number.isFinite(l.price)) notePrecision(s, l.price);
      ex.textContent = l.exchange || '';
      sz.textContent = fmtSize(l.quantity);
      px.textContent = fmtPrice(s, l.price);
      r.bar.style.width = Math.min(100, (100 * (+l.quantity || 0)) / max).toFixed(1) + '%';
    });
    fill(this.askRows, asks);
    fill(this.bidRows, bids);
    if (asks[0] && bids[0]) {
      const sp = asks[0].price - bids[0].price;
      this.mid.textContent = `spread ${fmtPrice(s, sp)}${sp < 0 ? '  crossed' : sp === 0 ? '  locked' : ''}`;
    } else this.mid.textContent = b ? 'one-sided book' : 'waiting for book…';
  }
}

export class TapePanel extends Panel {
  constructor() {
    super('Trades', 'tape');
    this.symbol = '';
    this.pending = [];
    this.lastPx = null;
    this.count = 0;
    this.list = el('div.tape-list');
    this.body.append(el('div.trow.hdr', null, el('span', { text: 'Time' }), el('span', { text: 'Price' }), el('span', { text: 'Size' }), el('span', { text: 'Exch' })), this.list);
  }
  setSymbol(s) {
    this.symbol = s;
    this.pending = [];
    this.lastPx = null;
    this.list.replaceChildren();
    this.schedule();
  }
  onTrade(m) {
    // A (re)subscription's snapshot repeats the last print: show it only on an empty tape.
    if (m.snapshot && (this.list.children.length || this.pending.length)) return;
    this.count++;
    this.pending.push(m);
    if (this.pending.length > TAPE_ROWS) this.pending.splice(0, this.pending.length - TAPE_ROWS);
    this.schedule();
  }
  rows() { return this.list.children.length; }
  draw() {
    this.titleEl.textContent = 'Trades ' + this.symbol;
    const batch = this.pending;
    this.pending = [];
    for (const m of batch) {
      const px = +m.price;
      if (Number.isFinite(px)) notePrecision(this.symbol, px);
      const dir = this.lastPx === null || px === this.lastPx ? (this.lastDir || '') : px > this.lastPx ? 'up' : 'down';
      this.lastDir = dir;
      this.lastPx = px;
      // Reuse the oldest row once full: the tape never holds more than TAPE_ROWS nodes.
      let r;
      if (this.list.children.length >= TAPE_ROWS) r = this.list.lastElementChild;
      else r = el('div.trow', null, el('span'), el('span'), el('span'), el('span'));
      const [t, p, z, x] = r.children;
      t.textContent = fmtTimeMs(m.timestamp);
      p.textContent = fmtPrice(this.symbol, px);
      z.textContent = fmtSize(m.size ?? m.quantity ?? m.volume ?? m.qty);
      x.textContent = m.exchange || '';
      r.className = 'trow ' + dir;
      this.list.prepend(r);
    }
  }
}

// Feed health: what the page measures itself (socket state, messages/s, last message age) plus what tickd
// reports about each feed: the names from GET /healthz ("feeds":[{"name","events",...}]) and, from
// /metrics, the tickd_feed_{messages,events,gaps,resyncs}_total counters (label feed="...") and, for live
// feeds, tickd_feed_state{state=...}, _last_message_age_seconds, _messages_per_second, _stale_symbols. Rates come from
// the change between two polls; "last" is how long ago the feed's counter last moved; the state is the
// feed's own when tickd reports one, else derived: live (counting), idle (no messages for 5 s), resyncing
// (more gaps than resyncs).
export class HealthPanel extends Panel {
  constructor(app) {
    super('Feed health', 'health');
    this.app = app;
    this.client = el('div.kv');
    this.feeds = el('div.feeds');
    this.body.append(this.client, this.feeds);
    this.prevMsgs = 0;
    this.prevAt = performance.now();
    this.track = new Map(); // feed name -> {count, at, movedAt}
    this.timer = 0;
  }
  start() {
    this.tick();
    this.timer = setInterval(() => this.tick(), 2000);
  }
  async tick() {
    const st = this.app.conn.stats, now = performance.now();
    const rate = ((st.msgs - this.prevMsgs) * 1000) / Math.max(1, now - this.prevAt);
    this.prevMsgs = st.msgs; this.prevAt = now;
    const kv = [
      ['WebSocket', this.app.conn.state],
      ['messages', fmtRate(rate)],
      ['last message', st.lastMsgAt ? fmtAge(now - st.lastMsgAt) : '—'],
      ['reconnects', String(Math.max(0, st.connects - 1))],
    ];
    this.client.replaceChildren(...kv.flatMap(([k, v]) => [el('span.k', { text: k }), el('span.v', { text: v, 'data-k': k })]));
    if (this.busy) return;
    this.busy = true;
    try { this.renderFeeds(await this.fetchFeeds()); } catch (e) { this.renderFeeds(null, e); } finally { this.busy = false; }
  }
  async fetchFeeds() {
    const [h, m] = await Promise.allSettled([this.app.api.healthz(), this.app.api.metrics()]);
    const feeds = new Map();
    const get = (name) => {
      let f = feeds.get(name);
      if (!f) feeds.set(name, (f = { name, state: '', count: NaN, gaps: NaN, resyncs: NaN, rate: NaN, age_ms: NaN }));
      return f;
    };
    if (h.status === 'fulfilled' && h.value && Array.isArray(h.value.feeds)) {
      for (const x of h.value.feeds) {
        const n = normFeed(x), f = get(n.name);
        Object.assign(f, Object.fromEntries(Object.entries(n).filter(([, v]) => v !== '' && !Number.isNaN(v))));
      }
    }
    if (m.status === 'fulfilled') this.fromMetrics(m.value, get);
    if (!feeds.size && h.status === 'rejected' && m.status === 'rejected') throw h.reason;
    const now = performance.now();
    for (const f of feeds.values()) {
      // rate and age from the counter's movement between polls
      const t = this.track.get(f.name);
      if (Number.isFinite(f.count)) {
        if (t && now > t.at && !Number.isFinite(f.rate)) f.rate = Math.max(0, ((f.count - t.count) * 1000) / (now - t.at));
        const movedAt = !t || f.count !== t.count ? now : t.movedAt;
        this.track.set(f.name, { count: f.count, at: now, movedAt });
        if (!Number.isFinite(f.age_ms)) f.age_ms = t ? now - movedAt : NaN;
      }
      if (!f.state) {
        if (f.stale > 0 || (Number.isFinite(f.gaps) && Number.isFinite(f.resyncs) && f.gaps > f.resyncs)) f.state = 'resyncing';
        else if (Number.isFinite(f.age_ms) && f.age_ms > 5000) f.state = 'idle';
        else if (Number.isFinite(f.count)) f.state = t ? 'live' : '…';
      }
    }
    if (this.track.size > 64) this.track.clear();
    return [...feeds.values()];
  }
  // Prometheus text: samples with a feed="..." label, grouped by feed.
  fromMetrics(text, get) {
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      if (!labels.feed) continue;
      const name = m[1], v = +m[3], f = get(labels.feed);
      if (/feed_messages_total$/.test(name)) f.count = v;
      else if (/feed_events_total$/.test(name) && !Number.isFinite(f.count)) f.count = v;
      else if (/feed_gaps_total$/.test(name)) f.gaps = v;
      else if (/feed_resyncs_total$/.test(name)) f.resyncs = v;
      else if (/feed_(state|status)$/.test(name) && labels.state && v === 1) f.state = labels.state;
      else if (/feed_last_message_age_seconds$/.test(name)) f.age_ms = v >= 0 ? v * 1000 : NaN; // -1: none yet
      else if (/feed_messages_per_second$/.test(name)) f.rate = v;
      else if (/feed_stale_symbols$/.test(name)) f.stale = v;
    }
  }
  renderFeeds(feeds, err) {
    if (!feeds) {
      this.feeds.replaceChildren(el('div.muted', { text: err && err.status === 404 ? 'tickd reports no feed health yet' : 'feed health unavailable' }));
      return;
    }
    if (!feeds.length) { this.feeds.replaceChildren(el('div.muted', { text: 'no feeds reported' })); return; }
    this.feeds.replaceChildren(el('div.frow.hdr', null, ...['Feed', 'State', 'Msgs', 'Last', 'Gaps'].map((t) => el('span', { text: t }))),
      ...feeds.map((f) => el('div.frow', { 'data-state': f.state || '' }, el('span.fname', { text: f.name, title: f.name }),
        el('span.badge', { text: f.state || '—', 'data-state': f.state || '' }), el('span', { text: fmtRate(f.rate) }),
        el('span', { text: fmtAge(f.age_ms) }), el('span', { text: Number.isFinite(f.gaps) ? String(f.gaps) : '—' }))));
  }
}

function normFeed(f) {
  const age = f.last_message_age_ms ?? f.last_msg_age_ms ?? f.age_ms ?? (f.last_message_age_s !== undefined ? f.last_message_age_s * 1000 : NaN);
  return {
    name: f.name || f.feed || f.spec || f.source || '?',
    state: f.state || f.status || '',
    rate: +(f.messages_per_sec ?? f.msgs_per_sec ?? f.rate ?? NaN),
    age_ms: +age,
    gaps: +(f.gaps ?? f.gap_count ?? NaN),
    count: +(f.messages ?? f.events ?? NaN),
  };
}
