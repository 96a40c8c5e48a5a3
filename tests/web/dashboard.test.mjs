// dashboard.test.mjs: the dashboard in headless Chromium against a server on a free port: a real
// build/tickd with `--feed sim:rate=5000` when its API is in the build, else tests/web/mock_server.py
// (TD_WEB_SERVER=tickd|mock forces one). Checks: no console errors; candles in the chart series (read
// through window.__tickd) and live updates; NBBO, depth and tape filled; interval and symbol switches; add,
// remove and reload (layout kept); light theme; phone width; kill + restart of the server on the same port
// -> "reconnecting", then live again with no duplicate candle. Screenshots go to build/screenshots/.
// Prints "N passed, N failed"; exit 0 when all passed, 77 (skip) without Chromium/playwright-core/dist.
import {
  Results, ServerUnderTest, launchBrowser, openPage, waitFor, sleep, SHOTS, ensureDir, prerequisites, SKIP, log, path,
} from './lib.mjs';

const missing = prerequisites();
if (missing.length) {
  console.log('SKIP: missing ' + missing.join(', '));
  process.exit(SKIP);
}
ensureDir(SHOTS);
const R = new Results('dashboard');
const srv = new ServerUnderTest();
let b;
const deadline = setTimeout(() => { console.log('FAIL overall timeout (240 s)'); process.exit(1); }, 240000);

const shot = async (page, name) => {
  const p = path.join(SHOTS, name);
  await page.screenshot({ path: p });
  log('screenshot ' + p);
};
const panes = (page) => page.evaluate(() => window.__tickd.panes());
const strictlyIncreasing = (times) => times.every((t, i) => i === 0 || t > times[i - 1]);

try {
  await srv.start();
  R.note(`server under test: ${srv.kind === 'tickd' ? 'build/tickd --feed sim:rate=5000' : 'tests/web/mock_server.py (the API is not in build/tickd yet)'} on :${srv.port}`);
  b = await launchBrowser();

  // Counts WebSocket constructions: the page must use one socket (plus one per reconnect).
  const init = () => {
    const WS = window.WebSocket;
    window.__wsCount = 0;
    window.WebSocket = class extends WS { constructor(...a) { super(...a); window.__wsCount++; } };
  };
  const { page, problems } = await openPage(b.browser, srv.url('/?layout=AAPL:1m'), { init });

  // 1. candles from REST, then live. A fresh tickd has only the minutes since it started (no stored
  // history yet), so the candle count is checked on the 1 s chart further down; the mock has 600 of each.
  const MIN = srv.kind === 'mock' ? 50 : 1;
  await waitFor(page, (n) => window.__tickd && window.__tickd.panes()[0] && window.__tickd.panes()[0].bars >= n, MIN, { what: `${MIN} candles in the first chart` });
  let p0 = (await panes(page))[0];
  R.ok(p0.symbol === 'AAPL' && p0.interval === '1m', 'default chart is AAPL 1m', `${p0.symbol} ${p0.interval}`);
  R.ok(p0.bars >= MIN && p0.volumeBars === p0.bars, 'chart series hold candles and volume', `${p0.bars} candles, ${p0.volumeBars} volume bars`);
  R.ok(strictlyIncreasing(p0.times), 'candle times strictly increase (no duplicates)');
  const last0 = p0.last;
  R.ok(last0 && last0.high >= Math.max(last0.open, last0.close) && last0.low <= Math.min(last0.open, last0.close), 'last candle is a sane OHLC', JSON.stringify(last0));
  await waitFor(page, (n) => window.__tickd.panes()[0].liveUpdates > n + 5, p0.liveUpdates, { what: 'live candle updates' });
  await sleep(1500);
  const p1 = (await panes(page))[0];
  R.ok(p1.liveUpdates > p0.liveUpdates, 'live candle updates arrive over the WebSocket', `${p1.liveUpdates - p0.liveUpdates} updates`);
  R.ok(JSON.stringify(p1.last) !== JSON.stringify(last0) || p1.bars > p0.bars, 'the in-progress candle moves', JSON.stringify(p1.last));
  R.ok(Number.isFinite(p1.lastPrice), 'last-trade price line drawn', String(p1.lastPrice));
  R.ok(p1.legend.includes(`C ${p1.last.close.toFixed(2)}`), 'OHLCV legend follows the open candle', p1.legend);

  // 2. panels
  await waitFor(page, () => window.__tickd.nbbo() && window.__tickd.book() && window.__tickd.tapeRows() > 3, null, { what: 'NBBO, book and trades' });
  const nbbo = await page.evaluate(() => window.__tickd.nbbo());
  R.ok(nbbo.symbol === 'AAPL' && nbbo.best_bid > 0 && nbbo.best_ask > 0, 'NBBO panel has AAPL', `${nbbo.best_bid} x ${nbbo.best_ask} ${nbbo.state}`);
  const ui = await page.evaluate(() => ({
    bidEx: document.querySelector('.nbbo .bid .ex').textContent, state: document.querySelector('.nbbo .badge').textContent,
    levels: [...document.querySelectorAll('.depth .lvl.bid .px')].filter((e) => e.textContent).length,
    askLevels: [...document.querySelectorAll('.depth .lvl.ask .px')].filter((e) => e.textContent).length,
    tape: document.querySelectorAll('.tape-list .trow').length, conn: document.querySelector('button.conn').textContent,
  }));
  R.ok(ui.bidEx.length > 0 && ['normal', 'locked', 'crossed', 'stale'].includes(ui.state), 'NBBO shows the exchange and the state', `${ui.bidEx} / ${ui.state}`);
  R.ok(ui.levels > 0 && ui.askLevels > 0, 'depth ladder shows levels on both sides', `${ui.levels} bids, ${ui.askLevels} asks`);
  R.ok(ui.tape > 3, 'tape shows trades', `${ui.tape} rows`);
  R.ok(/live/.test(ui.conn), 'connection pill says live', ui.conn);
  await waitFor(page, () => document.querySelectorAll('.health .frow:not(.hdr)').length > 0 || /unavailable|no feed/.test(document.querySelector('.health .feeds').textContent), null, { what: 'feed health' });
  const health = await page.evaluate(() => document.querySelector('.health .feeds').innerText.replace(/\s+/g, ' '));
  R.ok(health.length > 0, 'feed-health panel rendered', health.slice(0, 120));
  await shot(page, 'dashboard-dark.png');

  // 3. interval switch
  await page.click('section.pane button.iv[data-iv="1s"]');
  await waitFor(page, () => { const p = window.__tickd.panes()[0]; return p.interval === '1s' && p.synced && p.bars >= 20; }, null, { timeout: 30000, what: '20 1s candles' });
  let p = (await panes(page))[0];
  const gaps1s = p.times.slice(1).map((t, i) => t - p.times[i]);
  R.ok(p.interval === '1s' && strictlyIncreasing(p.times) && gaps1s.every((g) => g >= 1), 'interval switch to 1s', `${p.bars} candles`);
  const subs = await page.evaluate(() => window.__tickd.subscriptions());
  R.ok(subs.AAPL && subs.AAPL.includes('candle:1s') && !subs.AAPL.includes('candle:1m'), 'subscription follows the interval', JSON.stringify(subs.AAPL));
  await shot(page, 'dashboard-1s.png');
  await page.click('section.pane button.iv[data-iv="5m"]');
  await waitFor(page, (n) => { const p = window.__tickd.panes()[0]; return p.interval === '5m' && p.synced && p.bars >= n; }, MIN, { what: '5m candles' });
  p = (await panes(page))[0];
  R.ok(p.times.every((t) => t % 300 === 0), '5m candles on 5-minute boundaries', `${p.bars} candles`);

  // 4. symbol switch through the search box
  await page.click('input.search');
  await page.keyboard.type('msf');
  await waitFor(page, () => [...document.querySelectorAll('ul.suggest li')].some((li) => li.dataset.sym === 'MSFT'), null, { what: 'MSFT in the suggestions' });
  await page.keyboard.press('Enter');
  await waitFor(page, (n) => { const p = window.__tickd.panes()[0]; return p.symbol === 'MSFT' && p.synced && p.bars >= n; }, MIN, { what: 'MSFT candles' });
  await waitFor(page, () => window.__tickd.activeSymbol() === 'MSFT' && window.__tickd.nbbo() && window.__tickd.nbbo().symbol === 'MSFT', null, { what: 'panels on MSFT' });
  const subs2 = await page.evaluate(() => window.__tickd.subscriptions());
  R.ok(subs2.MSFT && !subs2.AAPL, 'symbol switch moves the subscriptions', JSON.stringify(subs2));
  R.ok(true, 'symbol switch via search (MSFT chart, NBBO follows)');

  // 5. add charts, reload keeps the layout, remove
  await page.click('input.search');
  await page.keyboard.type('TSLA');
  await page.keyboard.press('Shift+Enter');
  await page.selectOption('select.iv-default', '1s');
  await page.click('input.search');
  await page.keyboard.type('NVDA');
  await page.click('button.add');
  await waitFor(page, (n) => window.__tickd.panes().length === 3 && window.__tickd.panes().every((p) => p.bars >= n), MIN, { what: '3 charts with candles' });
  const before = (await panes(page)).map((q) => q.symbol + ' ' + q.interval);
  R.ok(before.join(',') === 'MSFT 5m,TSLA 1m,NVDA 1s', 'charts added', before.join(', '));
  await sleep(1000);
  await shot(page, 'dashboard-grid.png');
  await page.goto(srv.url('/'), { waitUntil: 'load' }); // not reload(): the first URL set the layout
  await waitFor(page, (n) => window.__tickd && window.__tickd.panes().length === 3 && window.__tickd.panes().every((p) => p.bars >= n), MIN, { what: 'layout after reload' });
  const after = (await panes(page)).map((q) => q.symbol + ' ' + q.interval);
  R.ok(after.join(',') === before.join(','), 'layout remembered across a reload', after.join(', '));
  await page.click('section.pane[data-symbol="TSLA"] button.pane-close');
  await sleep(300);
  const subs3 = await page.evaluate(() => window.__tickd.subscriptions());
  R.ok((await panes(page)).length === 2 && !subs3.TSLA, 'removing a chart drops its subscriptions', JSON.stringify(subs3));

  // 6. light theme, phone width
  await page.click('button.theme');
  await sleep(800);
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  R.ok(theme === 'light', 'theme toggles to light');
  await shot(page, 'dashboard-light.png');
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(800);
  const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
  R.ok(overflow <= 1, 'no horizontal scrolling at phone width (390 px)', `overflow ${overflow}px`);
  const paneW = await page.evaluate(() => document.querySelector('section.pane').getBoundingClientRect().width);
  R.ok(paneW > 300, 'charts use the phone width', `${Math.round(paneW)} px`);
  await shot(page, 'dashboard-phone.png');
  await page.evaluate(() => window.scrollTo(0, 10000));
  await sleep(300);
  await shot(page, 'dashboard-phone-panels.png');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.click('button.theme');
  await page.setViewportSize({ width: 1440, height: 900 });

  // 7. kill the server, restart it on the same port: reconnecting, then live, no duplicate candle
  await sleep(1500);
  const wsBefore = await page.evaluate(() => window.__wsCount);
  R.ok(wsBefore === 1, 'one WebSocket for the whole page', `${wsBefore} opened`);
  const pre = await panes(page);
  const errsBefore = problems.length;
  R.ok(errsBefore === 0, 'no console errors before the restart', problems.join(' | ').slice(0, 500));
  log('killing the server (SIGKILL)');
  await srv.stop('SIGKILL');
  await waitFor(page, () => window.__tickd.state() === 'reconnecting' && /reconnecting/.test(document.querySelector('button.conn').textContent), null, { what: '"reconnecting" shown' });
  R.ok(true, 'page shows "reconnecting" when tickd goes away');
  await sleep(2500);
  await shot(page, 'dashboard-reconnecting.png');
  await srv.start(srv.port);
  log('server restarted on the same port');
  await waitFor(page, () => window.__tickd.state() === 'live', null, { timeout: 30000, what: 'live again' });
  const reconnectedUpdates = (await panes(page)).map((q) => q.liveUpdates);
  await waitFor(page, (prev) => window.__tickd.panes().every((p, i) => p.liveUpdates > prev[i] + 2 && p.status === ''), reconnectedUpdates, { timeout: 20000, what: 'live updates after the restart' });
  await sleep(1500);
  const post = await panes(page);
  R.ok(post.every((q) => strictlyIncreasing(q.times)), 'no duplicate or out-of-order candle after the reconnect',
    post.map((q) => `${q.symbol} ${q.interval}: ${q.bars} candles`).join('; '));
  R.ok(post.every((q, i) => q.bars >= pre[i].bars), 'no candle lost after the reconnect', post.map((q, i) => `${pre[i].bars}->${q.bars}`).join(', '));
  R.ok(post.every((q) => q.markers.includes('reconnect')), 'reconnect marked on the charts');
  const pill = await page.evaluate(() => document.querySelector('button.conn').textContent);
  R.ok(/live/.test(pill), 'pill says live again', pill);
  await shot(page, 'dashboard-after-reconnect.png');
  const wsAfter = await page.evaluate(() => window.__wsCount);
  R.ok(wsAfter >= 2, 'reconnected with a new socket', `${wsAfter} opened in all`);
  // Chromium logs failed WebSocket handshakes and refused fetches as console errors while tickd is down;
  // those are expected. Anything else is not.
  const unexpected = problems.slice(errsBefore).filter((m) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|Failed to load resource|Failed to fetch/.test(m));
  R.ok(unexpected.length === 0, 'no unexpected console errors during the restart', unexpected.join(' | ').slice(0, 500));

  // 8. the API key: given once, kept in localStorage, sent as X-API-Key and ?api_key= on the socket
  {
    const seen = { rest: 0, restWithKey: 0, ws: '' };
    const kp = await b.browser.newPage();
    kp.on('request', (r) => {
      if (!/\/v1\/|\/healthz|\/metrics/.test(r.url())) return;
      seen.rest++;
      if (r.headers()['x-api-key'] === 'k-123') seen.restWithKey++;
    });
    kp.on('websocket', (w) => { seen.ws = w.url(); });
    await kp.goto(srv.url('/?api_key=k-123'), { waitUntil: 'load' });
    await waitFor(kp, () => window.__tickd && window.__tickd.state() === 'live', null, { what: 'live with an API key' });
    await sleep(1500);
    const stored = await kp.evaluate(() => [localStorage.getItem('tickd.apiKey'), location.search]);
    R.ok(stored[0] === 'k-123' && !stored[1].includes('api_key'), 'API key kept in localStorage, removed from the URL', JSON.stringify(stored));
    R.ok(seen.rest > 0 && seen.restWithKey === seen.rest, 'REST requests carry X-API-Key', `${seen.restWithKey}/${seen.rest}`);
    R.ok(/[?&]api_key=k-123/.test(seen.ws), 'WebSocket URL carries api_key', seen.ws);
    await kp.click('button.key');
    await kp.fill('input.key-input', 'k-456');
    await kp.keyboard.press('Enter');
    await waitFor(kp, () => window.__tickd.state() === 'live' && localStorage.getItem('tickd.apiKey') === 'k-456', null, { what: 'key saved from the popover, reconnected' });
    R.ok(seen.ws.includes('api_key=k-456') && (await kp.textContent('button.key')).includes('✓'), 'API key entered in the popover is used', seen.ws);
    await kp.click('button.key');
    await kp.click('form.key-pop button:text("Clear")');
    R.ok((await kp.evaluate(() => localStorage.getItem('tickd.apiKey'))) === null, 'API key cleared');
    await kp.close();
  }

  // 8b. a first visit (nothing in localStorage): the default 2x2 grid, what `make run` shows
  {
    const fp = await b.browser.newPage();
    const errs = [];
    fp.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
    await fp.goto(srv.url('/'), { waitUntil: 'domcontentloaded' });
    await fp.evaluate(() => localStorage.clear());
    await fp.goto(srv.url('/'), { waitUntil: 'load' });
    await waitFor(fp, () => window.__tickd && window.__tickd.panes().length === 4 && window.__tickd.panes().every((p) => p.bars >= 1), null, { what: 'the default grid' });
    await sleep(srv.kind === 'tickd' ? 8000 : 2000);
    const grid = (await panes(fp)).map((q) => `${q.symbol} ${q.interval}: ${q.bars}`);
    R.ok(grid.length === 4, 'first visit shows the default 2x2 grid', grid.join('; '));
    R.ok(errs.length === 0, 'no console errors on a first visit', errs.join(' | ').slice(0, 300));
    await shot(fp, 'dashboard-first-visit.png');
    await fp.close();
  }

  // 9. static serving (only tickd's own handler; the mock serves files its own way)
  if (srv.kind === 'tickd') {
    const html = await fetch(srv.url('/'));
    const js = (await html.text()).match(/\/assets\/[\w.-]+\.js/);
    R.ok(html.headers.get('cache-control') === 'no-cache' && /text\/html/.test(html.headers.get('content-type')), 'index.html: text/html, no-cache');
    if (js) {
      const r = await fetch(srv.url(js[0]), { headers: { 'Accept-Encoding': 'br' } });
      R.ok(r.headers.get('content-encoding') === 'br' && /immutable/.test(r.headers.get('cache-control')) && /javascript/.test(r.headers.get('content-type')),
        'hashed asset: brotli, immutable, text/javascript', `${r.headers.get('content-encoding')} ${r.headers.get('cache-control')}`);
      const etag = r.headers.get('etag');
      const r304 = await fetch(srv.url(js[0]), { headers: { 'Accept-Encoding': 'br', 'If-None-Match': etag } });
      R.ok(r304.status === 304, 'If-None-Match -> 304', String(r304.status));
    }
  }

  // 10. feed gaps: tickd's simulator with frequent wire losses -> NBBO "stale" -> gap/resync markers
  if (srv.kind === 'tickd') {
    await srv.stop();
    srv.feedExtra = ';gap_every=3000';
    await srv.start(srv.port);
    log('tickd restarted with --feed sim:rate=5000;gap_every=3000');
    try {
      await waitFor(page, () => window.__tickd.state() === 'live' && window.__tickd.panes().some((p) => p.markers.includes('gap')), null, { timeout: 40000, what: 'a gap marker' });
      await waitFor(page, () => window.__tickd.panes().some((p) => p.markers.includes('resync')), null, { timeout: 20000, what: 'a resync marker' });
      R.ok(true, 'feed gaps show as gap and resync markers', (await panes(page)).map((q) => `${q.symbol}: ${q.markers.join(' ')}`).join('; '));
    } catch (e) {
      R.ok(false, 'feed gaps show as gap and resync markers', e.message);
    }
    await shot(page, 'dashboard-gap-markers.png');
  }
} catch (e) {
  R.ok(false, 'test run', e.stack || String(e));
  if (srv.output) console.log('--- server output (tail) ---\n' + srv.output.slice(-3000));
} finally {
  if (b) await b.close();
  await srv.stop();
  srv.cleanup();
  clearTimeout(deadline);
}
process.exit(R.finish());
