// chartpane.js: one chart in the grid: candlesticks + volume for (symbol, interval).
//
// Data model: `bars` is the pane's own array of candles sorted by time with unique times; it is the only
// truth, and the chart series mirror it. Every source (the REST history on open, live "candle" messages,
// the REST refill after a reconnect) goes through merge(), which replaces a bar of the same time, so a
// candle can never appear twice. Live messages always win (they arrive in the server's order); a REST row
// replaces a bar unless that bar was updated live after the REST request was sent (the answer is older).
//
// Between the server's candle messages (tickd sends a candle when it closes, the open one in the
// subscription snapshot, and open-candle updates every 250 ms), the open candle is carried forward from the
// trade prints of the "trade" channel: a print extends the newest bar (or opens the next period), as
// tickd's candle builder does, so the chart moves with every trade. A server candle replaces the result,
// except an open-candle update with fewer trades than the bar already counts (taken from an engine
// snapshot older than the prints seen). Snapshot prints (already in the candle) are not added.
//
// Rendering: merges only mark bars dirty; one requestAnimationFrame per pane pushes them to the chart
// (series.update for the newest bars, setData after an insert in the middle or a trim). Memory is bounded:
// at most MAX_BARS bars (trimmed from the oldest), MAX_MARKERS markers; destroy() releases the chart, its
// subscriptions and its DOM.

import {
  createChart, CandlestickSeries, HistogramSeries, createSeriesMarkers, LineStyle, CrosshairMode,
} from 'lightweight-charts';
import { INTERVALS, INTERVAL_SECS } from './api.js';
import { el, fmtPrice, fmtSize, notePrecision, precisionOf } from './fmt.js';

// ?max_bars=N (tests, debugging) lowers the cap so a short run reaches the steady state.
const qMax = +new URLSearchParams(location.search).get('max_bars');
export const MAX_BARS = qMax >= 50 && qMax <= 1500 ? qMax : 1500;
export const HISTORY_BARS = Math.min(300, MAX_BARS);
const TRIM_SLACK = Math.min(200, Math.ceil(MAX_BARS / 4));
const MAX_MARKERS = 60;

let nextId = 1;
const LIVE = -1; // merge(): a candle message that replaces whatever bar has its time
const LIVE_OPEN = -2; // merge(): an open-candle update, taken unless it has fewer trades than the bar

// Times on the axis and the crosshair in the viewer's local time zone (the chart itself works in UTC
// seconds, which is what tickd sends).
const pad = (n) => String(n).padStart(2, '0');
function tickMark(time, type) {
  const d = new Date(time * 1000);
  switch (type) {
    case 0: return String(d.getFullYear());
    case 1: return d.toLocaleString(undefined, { month: 'short' });
    case 2: return String(d.getDate());
    case 3: return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    default: return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
}
function crosshairTime(time) {
  const d = new Date(time * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function themeColors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (n) => cs.getPropertyValue(n).trim();
  return {
    bg: v('--chart-bg'), text: v('--muted'), grid: v('--grid'), border: v('--border'),
    up: v('--up'), down: v('--down'), upVol: v('--up-vol'), downVol: v('--down-vol'),
    last: v('--accent'), gap: v('--warn'), resync: v('--accent'), reconnect: v('--muted'),
  };
}

export class ChartPane {
  constructor(app, { symbol, interval }) {
    this.app = app;
    this.id = nextId++;
    this.symbol = symbol;
    this.interval = INTERVALS.includes(interval) ? interval : '1m';
    this.bars = [];
    this.dirty = new Set(); // times of bars changed since the last draw
    this.needFull = true;
    this.raf = 0;
    this.loading = null; // AbortController of the REST load in flight
    this.markers = [];
    this.nbboState = null;
    this.lastPrice = null;
    this.liveUpdates = 0;
    this.status = 'loading';
    this._buildDom();
    this._buildChart();
    this._subscribe();
    this.load();
  }

  get key() { return this.symbol + '|' + this.interval; }

  _buildDom() {
    this.symBtn = el('button.pane-symbol', { title: 'Change symbol', onclick: (e) => { e.stopPropagation(); this.app.focusSearch(this); } });
    this.ivBtns = INTERVALS.map((iv) => el('button.iv', {
      'data-iv': iv, text: iv, onclick: (e) => { e.stopPropagation(); this.setInterval(iv); },
    }));
    this.legend = el('div.legend');
    this.lastEl = el('span.pane-last');
    this.stateEl = el('span.pane-state');
    const close = el('button.pane-close', { title: 'Remove chart', 'aria-label': 'Remove chart', text: '×',
      onclick: (e) => { e.stopPropagation(); this.app.removePane(this); } });
    // Narrow panes (a container query in style.css) show a select instead of the row of buttons.
    this.ivSelect = el('select.iv-select', { 'aria-label': 'Interval', onchange: (e) => this.setInterval(e.target.value), onpointerdown: (e) => e.stopPropagation() },
      ...INTERVALS.map((iv) => el('option', { value: iv, text: iv })));
    this.head = el('div.pane-head', null, this.symBtn, this.lastEl,
      el('div.ivs', { role: 'group', 'aria-label': 'Interval' }, ...this.ivBtns), this.ivSelect, this.stateEl, close);
    this.body = el('div.pane-body');
    this.root = el('section.pane', { 'data-pane': this.id, onpointerdown: () => this.app.setActive(this) },
      this.head, el('div.pane-chart', null, this.body, this.legend));
    this._refreshHead();
  }

  _buildChart() {
    const c = themeColors();
    this.chart = createChart(this.body, {
      autoSize: true,
      layout: { background: { color: c.bg }, textColor: c.text, fontFamily: 'inherit', attributionLogo: false },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      rightPriceScale: { borderColor: c.border },
      timeScale: { borderColor: c.border, timeVisible: true, secondsVisible: this._secondsVisible(), rightOffset: 4, tickMarkFormatter: tickMark },
      localization: { timeFormatter: crosshairTime },
      crosshair: { mode: CrosshairMode.Normal },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: c.up, downColor: c.down, borderVisible: false, wickUpColor: c.up, wickDownColor: c.down,
      priceLineVisible: false, lastValueVisible: false,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: 'volume' }, priceScaleId: 'vol', lastValueVisible: false, priceLineVisible: false,
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.24 } });
    this.markerApi = createSeriesMarkers(this.candles, []);
    this.lastLine = null;
    this._onCrosshair = (p) => this._legend(p && p.time !== undefined ? this._barAt(p.time) : null);
    this.chart.subscribeCrosshairMove(this._onCrosshair);
  }

  _secondsVisible() { return INTERVAL_SECS[this.interval] < 60; }

  applyTheme() {
    const c = themeColors();
    this.chart.applyOptions({
      layout: { background: { color: c.bg }, textColor: c.text },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      rightPriceScale: { borderColor: c.border }, timeScale: { borderColor: c.border },
    });
    this.candles.applyOptions({ upColor: c.up, downColor: c.down, wickUpColor: c.up, wickDownColor: c.down });
    if (this.lastLine) this.lastLine.applyOptions({ color: c.last });
    this.needFull = true;
    this._schedule();
  }

  _subscribe() {
    this.app.conn.want(this.symbol, 'candle:' + this.interval);
    this.app.conn.want(this.symbol, 'trade');
    this.app.conn.want(this.symbol, 'nbbo');
  }

  _unsubscribe() {
    this.app.conn.unwant(this.symbol, 'candle:' + this.interval);
    this.app.conn.unwant(this.symbol, 'trade');
    this.app.conn.unwant(this.symbol, 'nbbo');
  }

  setSymbol(symbol) {
    symbol = String(symbol || '').trim().toUpperCase();
    if (!symbol || symbol === this.symbol) return;
    this._reset(() => { this.symbol = symbol; });
  }

  setInterval(interval) {
    if (!INTERVALS.includes(interval) || interval === this.interval) return;
    this._reset(() => { this.interval = interval; });
  }

  _reset(change) {
    this._unsubscribe();
    change();
    this.bars = [];
    this.dirty.clear();
    this.markers = [];
    this.markerApi.setMarkers([]);
    this.nbboState = null;
    this.lastPrice = null;
    if (this.lastLine) { this.candles.removePriceLine(this.lastLine); this.lastLine = null; }
    this.needFull = true;
    this.chart.applyOptions({ timeScale: { secondsVisible: this._secondsVisible() } });
    this._subscribe();
    this._refreshHead();
    this.app.saveLayout();
    this._schedule(); // clear the old series now, not when the first new data arrives
    this.load();
  }

  // REST history (on open, on a symbol/interval change, after a reconnect): merged, never appended.
  async load() {
    if (this.loading) this.loading.abort();
    const ac = new AbortController();
    this.loading = ac;
    const key = this.key;
    this._setStatus(this.bars.length ? 'refilling' : 'loading');
    const since = this.liveUpdates;
    try {
      const rows = await this.app.api.candles(this.symbol, this.interval, HISTORY_BARS, { signal: ac.signal });
      if (ac.signal.aborted || key !== this.key) return;
      for (const r of rows) this.merge(r, since);
      if (!this.bars.length) this._setStatus('no data yet');
      else this._setStatus('');
      this._schedule();
      if (rows.length && this.needFull) this.fitOnDraw = true;
    } catch (e) {
      if (ac.signal.aborted) return;
      const auth = e.status === 401 || e.status === 403;
      this._setStatus(e.status === 404 ? 'unknown symbol' : auth ? 'API key needed' : 'history unavailable');
      if (auth) this.app.needKey();
      this.app.reportError(`${this.symbol} ${this.interval} history: ${e.message}`);
    } finally {
      if (this.loading === ac) this.loading = null;
    }
  }

  _setStatus(s) {
    this.status = s;
    this.stateEl.textContent = s;
    this.stateEl.dataset.state = s ? s.split(' ')[0] : '';
  }

  // A live candle message for this pane's (symbol, interval).
  onCandle(m) {
    this.liveUpdates++;
    // Closed candles and subscription snapshots always win. tickd pushes open-candle updates from an
    // engine snapshot every 250 ms, which may be older than prints already applied here: within a period
    // the trade count only grows, so an update with fewer trades than the bar has is stale.
    const authoritative = m.closed === true || m.snapshot === true || m.trade_count === undefined;
    this.merge(m, authoritative ? LIVE : LIVE_OPEN);
    if (this.status === 'no data yet') this._setStatus('');
    this._schedule();
  }

  // A tick: only the last price (quotes carry no volume for the candle).
  onTick(price) {
    if (!Number.isFinite(price)) return;
    this.lastPrice = price;
    this._schedule();
  }

  // A trade print: the last price, and the open candle carried forward (see the top of the file).
  onTrade(m) {
    const px = +m.price;
    if (!Number.isFinite(px)) return;
    this.lastPrice = px;
    const last = this.bars[this.bars.length - 1];
    if (!m.snapshot && last) {
      const qty = +(m.quantity ?? m.size ?? m.volume ?? 0) || 0;
      const secs = INTERVAL_SECS[this.interval];
      const ts = Math.floor((+m.timestamp || Date.now()) / 1000);
      const t = ts - (ts % secs);
      this.liveUpdates++;
      if (t > last.time) {
        this.bars.push({ time: t, open: px, high: px, low: px, close: px, volume: qty, trades: 1, lu: this.liveUpdates });
        this.dirty.add(t);
        this._trim();
      } else { // the open period, or a late print, which goes into the open candle as in tickd
        last.high = Math.max(last.high, px);
        last.low = Math.min(last.low, px);
        last.close = px;
        last.volume += qty;
        last.trades = (last.trades || 0) + 1;
        last.lu = this.liveUpdates;
        this.dirty.add(last.time);
      }
      if (this.status === 'no data yet') this._setStatus('');
    }
    this._schedule();
  }

  onNbbo(m) {
    const s = m.state;
    if (!s || s === this.nbboState) return;
    const prev = this.nbboState;
    this.nbboState = s;
    if (s === 'stale') this.addMarker('gap');
    else if (prev === 'stale') this.addMarker('resync');
  }

  onReconnect() { if (this.bars.length) this.addMarker('reconnect'); this.load(); }

  addMarker(kind) {
    const last = this.bars[this.bars.length - 1];
    if (!last) return;
    const c = themeColors();
    const m = {
      gap: { position: 'aboveBar', shape: 'arrowDown', color: c.gap, text: 'gap' },
      resync: { position: 'belowBar', shape: 'arrowUp', color: c.resync, text: 'resync' },
      reconnect: { position: 'aboveBar', shape: 'circle', color: c.reconnect, text: 'reconnect' },
    }[kind];
    this.markers.push({ time: last.time, ...m });
    if (this.markers.length > MAX_MARKERS) this.markers.splice(0, this.markers.length - MAX_MARKERS);
    this.markersDirty = true;
    this._schedule();
  }

  _barAt(time) {
    const i = this._find(time);
    return i >= 0 ? this.bars[i] : null;
  }

  // Binary search: index of the bar with this time, or -(insertion point) - 1.
  _find(time) {
    let lo = 0, hi = this.bars.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, t = this.bars[mid].time;
      if (t === time) return mid;
      if (t < time) lo = mid + 1; else hi = mid - 1;
    }
    return -lo - 1;
  }

  // restSince: for a REST row, liveUpdates when its request was sent; LIVE or LIVE_OPEN for a message.
  merge(r, restSince) {
    const time = Math.floor(+r.time);
    if (!Number.isFinite(time) || !Number.isFinite(+r.open)) return;
    const bar = { time, open: +r.open, high: +r.high, low: +r.low, close: +r.close, volume: +r.volume || 0,
      trades: +r.trade_count || 0, lu: this.liveUpdates };
    notePrecision(this.symbol, bar.open);
    notePrecision(this.symbol, bar.close);
    const n = this.bars.length;
    if (!n || time > this.bars[n - 1].time) {
      this.bars.push(bar);
    } else {
      const i = this._find(time);
      if (i >= 0) {
        if (restSince >= 0 && this.bars[i].lu > restSince) return; // updated live after the request
        if (restSince === LIVE_OPEN && bar.trades < this.bars[i].trades) return; // older than our prints
        this.bars[i] = bar;
      } else {
        if (n >= MAX_BARS && time < this.bars[0].time) return; // older than what we keep
        this.bars.splice(-i - 1, 0, bar);
        this.needFull = true;
      }
    }
    this.dirty.add(time);
    this._trim();
  }

  _trim() {
    if (this.bars.length > MAX_BARS + TRIM_SLACK) {
      this.bars.splice(0, this.bars.length - MAX_BARS);
      const first = this.bars[0].time;
      this.markers = this.markers.filter((m) => m.time >= first);
      this.markersDirty = true;
      this.needFull = true;
    }
  }

  _schedule() {
    // A hidden tab gets no animation frames: past a few hundred changed bars, redraw everything once
    // instead of remembering each (keeps `dirty` bounded however long the tab stays hidden).
    if (this.dirty.size > 256) { this.dirty.clear(); this.needFull = true; }
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this._draw(); });
  }

  _volBar(b) {
    const c = this._colors || (this._colors = themeColors());
    return { time: b.time, value: b.volume, color: b.close >= b.open ? c.upVol : c.downVol };
  }

  _draw() {
    if (this.destroyed) return;
    this._colors = themeColors();
    const prec = precisionOf(this.symbol);
    if (prec !== this.prec) {
      this.prec = prec;
      this.candles.applyOptions({ priceFormat: { type: 'price', precision: prec, minMove: 10 ** -prec } });
    }
    if (this.needFull) {
      this.candles.setData(this.bars.map(({ time, open, high, low, close }) => ({ time, open, high, low, close })));
      this.volume.setData(this.bars.map((b) => this._volBar(b)));
      this.needFull = false;
      this.drawnKey = this.key;
      this.markersDirty = true;
      this.drawnLast = this.bars.length ? this.bars[this.bars.length - 1].time : -1;
    } else if (this.dirty.size) {
      const times = [...this.dirty].sort((a, b) => a - b);
      for (const t of times) {
        const b = this._barAt(t);
        if (!b) continue;
        const hist = t < this.drawnLast;
        this.candles.update({ time: t, open: b.open, high: b.high, low: b.low, close: b.close }, hist);
        this.volume.update(this._volBar(b), hist);
        if (t > this.drawnLast) this.drawnLast = t;
      }
    }
    this.dirty.clear();
    if (this.fitOnDraw) {
      this.fitOnDraw = false;
      this.chart.timeScale().scrollToRealTime();
    }
    if (this.markersDirty) {
      this.markersDirty = false;
      this.markerApi.setMarkers(this.markers.slice());
    }
    const last = this.bars[this.bars.length - 1];
    const price = this.lastPrice ?? (last ? last.close : null);
    if (price !== null && Number.isFinite(price)) {
      if (!this.lastLine) {
        this.lastLine = this.candles.createPriceLine({
          price, color: this._colors.last, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: true, title: 'last',
        });
      } else if (price !== this.drawnPrice) {
        this.lastLine.applyOptions({ price });
      }
      this.drawnPrice = price;
    }
    this._legend(null);
    this._refreshLast(price, last);
  }

  _legend(b) {
    const hovering = !!b;
    b = b || this.bars[this.bars.length - 1];
    if (!b) { this.legend.textContent = ''; return; }
    const f = (x) => fmtPrice(this.symbol, x);
    const up = b.close >= b.open;
    const cls = 'legend ' + (up ? 'up' : 'down');
    const txt = `O ${f(b.open)}  H ${f(b.high)}  L ${f(b.low)}  C ${f(b.close)}  V ${fmtSize(b.volume)}`;
    if (this.legend.className !== cls) this.legend.className = cls;
    if (this.legend.textContent !== txt) this.legend.textContent = txt; // bars change in place: compare text
  }

  _refreshLast(price, last) {
    if (price === null || price === undefined) { this.lastEl.textContent = ''; return; }
    const first = this.bars[0];
    const ref = first ? first.open : price;
    const chg = ref ? ((price - ref) / ref) * 100 : 0;
    const txt = `${fmtPrice(this.symbol, price)}  ${chg >= 0 ? '+' : ''}${chg.toFixed(2)}%`;
    if (txt !== this.lastEl.textContent) {
      this.lastEl.textContent = txt;
      this.lastEl.className = 'pane-last ' + (chg >= 0 ? 'up' : 'down');
      this.lastEl.title = 'last trade; change over the bars shown';
    }
  }

  _refreshHead() {
    this.symBtn.textContent = this.symbol;
    for (const b of this.ivBtns) b.classList.toggle('on', b.dataset.iv === this.interval);
    this.ivSelect.value = this.interval;
    this.root.dataset.symbol = this.symbol;
    this.root.dataset.interval = this.interval;
  }

  setActive(on) { this.root.classList.toggle('active', on); }

  // For tests and debugging (window.__tickd): what the chart series actually hold.
  snapshot() {
    const data = this.candles.data();
    return {
      id: this.id, symbol: this.symbol, interval: this.interval, status: this.status, synced: this.drawnKey === this.key,
      bars: data.length, times: data.map((d) => d.time), last: data.length ? data[data.length - 1] : null,
      volumeBars: this.volume.data().length, markers: this.markers.map((m) => m.text),
      liveUpdates: this.liveUpdates, lastPrice: this.drawnPrice ?? null, legend: this.legend.textContent,
    };
  }

  destroy() {
    this.destroyed = true;
    if (this.loading) this.loading.abort();
    if (this.raf) cancelAnimationFrame(this.raf);
    this._unsubscribe();
    this.chart.unsubscribeCrosshairMove(this._onCrosshair);
    this.chart.remove();
    this.root.remove();
    this.bars = [];
    this.markers = [];
  }
}
