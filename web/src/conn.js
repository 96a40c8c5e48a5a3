// conn.js: the page's one WebSocket to tickd (API.md "WebSocket: GET /v1/prices").
//
// Everything on the page that wants live data asks this module for (symbol, channel) pairs with
// want()/unwant(); pairs are reference-counted, so two charts of AAPL 1m share one subscription and
// closing one of them keeps it. The module keeps the socket open, reconnects with exponential backoff
// (0.5 s doubling to 15 s, with jitter) and, after every (re)connect, resubscribes everything wanted and
// fires 'open' so views can refill from REST. Frames may hold one JSON object or an array of them.
//
// Liveness: a ping every 15 s; if nothing at all arrives for 35 s the socket is presumed dead (a half-open
// TCP connection never errors by itself) and replaced.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_MS = 15000;
const DEAD_MS = 35000;

export class Conn {
  constructor({ url, apiKey }) {
    this.baseUrl = url;
    this.apiKey = apiKey || '';
    this.ws = null;
    this.state = 'idle'; // idle | connecting | live | reconnecting
    this.attempt = 0;
    this.retryAt = 0;
    this.wanted = new Map(); // symbol -> Map(channel -> refcount)
    this.sent = new Map(); // symbol -> Set(channel) as last sent to this socket
    this.handlers = new Map(); // event type -> Set(fn)
    this.stats = { msgs: 0, bytes: 0, lastMsgAt: 0, connects: 0, errors: 0 };
    this._timers = { retry: 0, ping: 0, flush: 0 };
    this._dirty = new Set();
  }

  on(type, fn) {
    let s = this.handlers.get(type);
    if (!s) this.handlers.set(type, (s = new Set()));
    s.add(fn);
    return () => s.delete(fn);
  }

  _emit(type, msg) {
    const s = this.handlers.get(type);
    if (s) for (const fn of s) {
      try { fn(msg); } catch (e) { console.error('tickd handler', type, e); }
    }
  }

  setApiKey(key) {
    this.apiKey = key || '';
    if (this.ws) this._drop('api key changed');
  }

  start() {
    if (this.state === 'idle') this._connect();
  }

  want(symbol, channel) {
    let m = this.wanted.get(symbol);
    if (!m) this.wanted.set(symbol, (m = new Map()));
    m.set(channel, (m.get(channel) || 0) + 1);
    this._markDirty(symbol);
  }

  unwant(symbol, channel) {
    const m = this.wanted.get(symbol);
    if (!m || !m.has(channel)) return;
    const n = m.get(channel) - 1;
    if (n > 0) m.set(channel, n);
    else m.delete(channel);
    if (m.size === 0) this.wanted.delete(symbol);
    this._markDirty(symbol);
  }

  wants(symbol, channel) {
    const m = this.wanted.get(symbol);
    return !!(m && m.has(channel));
  }

  // Subscription changes made in one task are sent together in the next microtask.
  _markDirty(symbol) {
    this._dirty.add(symbol);
    if (!this._timers.flush) {
      this._timers.flush = 1;
      queueMicrotask(() => { this._timers.flush = 0; this._flushSubs(); });
    }
  }

  _flushSubs() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) { this._dirty.clear(); return; }
    // Group symbols by their exact channel set so one message covers many symbols.
    const subs = new Map(); // "ch,ch" -> [symbols]
    const unsubs = new Map();
    for (const sym of this._dirty) {
      const want = new Set(this.wanted.has(sym) ? this.wanted.get(sym).keys() : []);
      const had = this.sent.get(sym) || new Set();
      const removed = [...had].filter((c) => !want.has(c));
      const added = [...want].filter((c) => !had.has(c));
      if (removed.length) {
        const k = removed.sort().join(',');
        if (!unsubs.has(k)) unsubs.set(k, []);
        unsubs.get(k).push(sym);
      }
      // A server that ignores "channels" on unsubscribe drops the whole symbol: so after any removal the
      // remaining set is subscribed again (harmless for a server that honours it).
      if (want.size && (added.length || removed.length)) {
        const k = [...want].sort().join(',');
        if (!subs.has(k)) subs.set(k, []);
        subs.get(k).push(sym);
      }
      if (want.size) this.sent.set(sym, want);
      else this.sent.delete(sym);
    }
    this._dirty.clear();
    for (const [k, symbols] of unsubs) this._send({ action: 'unsubscribe', symbols, channels: k.split(',') });
    for (const [k, symbols] of subs) this._send({ action: 'subscribe', symbols, channels: k.split(',') });
  }

  _send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  _wsUrl() {
    const u = new URL(this.baseUrl, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.apiKey) u.searchParams.set('api_key', this.apiKey);
    return u.toString();
  }

  _setState(s, detail) {
    this.state = s;
    this._emit('state', { state: s, attempt: this.attempt, retryAt: this.retryAt, detail });
  }

  _connect() {
    clearTimeout(this._timers.retry);
    this._timers.retry = 0;
    this._setState(this.attempt ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this._wsUrl());
    } catch (e) {
      this._scheduleRetry(String(e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.stats.connects++;
      this.stats.lastMsgAt = performance.now();
      this.sent.clear();
      for (const sym of this.wanted.keys()) this._dirty.add(sym);
      this._flushSubs();
      this._setState('live');
      this._emit('open', { connects: this.stats.connects });
      clearInterval(this._timers.ping);
      this._timers.ping = setInterval(() => this._heartbeat(), PING_MS / 3);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.stats.lastMsgAt = performance.now();
      this.stats.bytes += ev.data.length || 0;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { this.stats.errors++; return; }
      if (Array.isArray(msg)) for (const m of msg) this._dispatch(m);
      else this._dispatch(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._scheduleRetry(`closed (${ev.code})`);
    };
    // onerror is always followed by onclose; nothing to do here, and no console noise.
    ws.onerror = () => {};
  }

  _dispatch(m) {
    if (!m || typeof m !== 'object') return;
    this.stats.msgs++;
    if (m.type === 'error') this.stats.errors++;
    this._emit(m.type, m);
    this._emit('*', m);
  }

  _heartbeat() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const idle = performance.now() - this.stats.lastMsgAt;
    if (idle > DEAD_MS) { this._drop('no data for ' + Math.round(idle / 1000) + ' s'); return; }
    if (idle > PING_MS) this._send({ action: 'ping' });
  }

  _drop(why) {
    const ws = this.ws;
    if (ws) { try { ws.close(4000, why.slice(0, 100)); } catch { /* already closing */ } }
    this._scheduleRetry(why);
  }

  _scheduleRetry(why) {
    clearInterval(this._timers.ping);
    if (this.ws) { this.ws.onopen = this.ws.onmessage = this.ws.onclose = null; }
    this.ws = null;
    this.sent.clear();
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt, 10));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this._setState('reconnecting', why);
    clearTimeout(this._timers.retry);
    this._timers.retry = setTimeout(() => this._connect(), delay);
  }

  // Connect now instead of waiting out the backoff (the "retry now" button, the page becoming visible).
  retryNow() {
    if (this.state === 'reconnecting' && this._timers.retry) this._connect();
  }
}
