// api.js: REST calls to tickd (API.md "REST"), with the API key (when one is set) sent as X-API-Key.

export const INTERVALS = ['1s', '10s', '1m', '5m', '15m', '1h', '1d'];
export const INTERVAL_SECS = { '1s': 1, '10s': 10, '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86400, '1w': 604800 };

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(base, apiKey) {
    this.base = base || '';
    this.apiKey = apiKey || '';
  }

  async _get(path, { signal, json = true } = {}) {
    const headers = {};
    if (this.apiKey) headers['X-API-Key'] = this.apiKey;
    const r = await fetch(this.base + path, { headers, signal, cache: 'no-cache' });
    if (!r.ok) {
      let code = 'http_' + r.status, message = `${r.status} ${r.statusText}`;
      try {
        const e = await r.json();
        if (e && e.error) { code = e.error.code || code; message = e.error.message || message; }
      } catch { /* not JSON */ }
      throw new HttpError(r.status, code, message);
    }
    return json ? r.json() : r.text();
  }

  // GET /v1/symbols. The answer's shape is not fixed by API.md: accept ["AAPL",..], {"symbols":[..]}, and
  // elements that are strings or objects with a "symbol" (or "name") field.
  async symbols(opts) {
    const j = await this._get('/v1/symbols', opts);
    const list = Array.isArray(j) ? j : (j && (j.symbols || j.data)) || [];
    return list
      .map((s) => (typeof s === 'string' ? s : s && (s.symbol || s.name)))
      .filter(Boolean)
      .map((s) => String(s).toUpperCase());
  }

  // The last `limit` candles up to now.
  async candles(symbol, interval, limit, opts) {
    const secs = INTERVAL_SECS[interval] || 60;
    const to = Math.floor(Date.now() / 1000) + secs;
    const from = to - secs * (limit + 1);
    const q = `interval=${interval}&from=${from}&to=${to}&limit=${limit}`;
    const j = await this._get(`/v1/prices/${encodeURIComponent(symbol)}/candles?${q}`, opts);
    return (j && j.candles) || [];
  }

  price(symbol, opts) { return this._get(`/v1/prices/${encodeURIComponent(symbol)}`, opts); }
  nbbo(symbol, opts) { return this._get(`/v1/prices/${encodeURIComponent(symbol)}/nbbo`, opts); }
  book(symbol, depth, opts) { return this._get(`/v1/prices/${encodeURIComponent(symbol)}/book?depth=${depth}`, opts); }
  healthz(opts) { return this._get('/healthz', opts); }
  metrics(opts) { return this._get('/metrics', { ...opts, json: false }); }
}
