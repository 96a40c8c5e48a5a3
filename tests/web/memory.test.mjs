// memory.test.mjs: the dashboard's memory stays flat with 6 live charts (1s, 10s, 1m, 5m, 1m, 1s on six
// symbols) and all panels updating, against build/tickd with the simulator (or the mock, see lib.mjs).
//
// Method: the page opens with ?max_bars=50 so the per-chart candle cap (the thing that keeps memory
// bounded) is reached within the run by the 1 s charts, even on a fresh tickd with no history; after a warm-up, the JS heap is measured
// through the DevTools protocol (HeapProfiler.collectGarbage, then Runtime.getHeapUsage; Performance.getMetrics
// for DOM nodes and listeners; the document's element count) every SAMPLE seconds. The test asserts that used heap after GC grew by less
// than HEAP_BOUND_MB between the first sample after warm-up and the last, that the last third of the run
// does not keep climbing, and that DOM nodes stay flat. TD_WEB_MEM_SECONDS sets the duration (default 75;
// tests/web/memory-long.sh runs 600). Prints every sample, then "N passed, N failed".
import {
  Results, ServerUnderTest, launchBrowser, openPage, waitFor, sleep, SHOTS, ensureDir, prerequisites, SKIP, log, path, fs,
} from './lib.mjs';

const missing = prerequisites();
if (missing.length) { console.log('SKIP: missing ' + missing.join(', ')); process.exit(SKIP); }
const SECONDS = +(process.env.TD_WEB_MEM_SECONDS || 75);
const WARMUP = Math.min(20, Math.round(SECONDS / 4));
const SAMPLE = SECONDS > 200 ? 30 : 10;
const HEAP_BOUND_MB = +(process.env.TD_WEB_HEAP_BOUND_MB || 4);
const NODES_BOUND = 0.1; // DOM nodes may move by 10 %
const MAX_BARS = 50; // the page's smallest cap: the 1 s charts reach it (and trim) within a minute
ensureDir(SHOTS);
const R = new Results('memory');
const srv = new ServerUnderTest();
let b;
const deadline = setTimeout(() => { console.log('FAIL overall timeout'); process.exit(1); }, (SECONDS + 180) * 1000);
const LAYOUT = [['AAPL', '1s'], ['MSFT', '10s'], ['NVDA', '1m'], ['TSLA', '5m'], ['AMZN', '1m'], ['SPY', '1s']];

try {
  await srv.start();
  R.note(`server under test: ${srv.kind === 'tickd' ? 'build/tickd --feed sim:rate=5000' : 'tests/web/mock_server.py (the API is not in build/tickd yet)'}; ${SECONDS} s, 6 charts, sample every ${SAMPLE} s`);
  b = await launchBrowser();
  const layout = JSON.stringify({ panes: LAYOUT.map(([symbol, interval]) => ({ symbol, interval })), active: 0 });
  const init = `localStorage.setItem('tickd.layout.v1', ${JSON.stringify(layout)});`;
  const { page, problems } = await openPage(b.browser, srv.url('/?max_bars=' + MAX_BARS), { init: new Function(init) });
  await waitFor(page, () => window.__tickd && window.__tickd.panes().length === 6 && window.__tickd.panes().every((p) => p.bars >= 1), null, { timeout: 30000, what: '6 charts with candles' });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const measure = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const h = await cdp.send('Runtime.getHeapUsage');
    const m = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
    const st = await page.evaluate(() => ({ dom: document.getElementsByTagName('*').length, panes: window.__tickd.panes().map((p) => p.bars), msgs: window.__tickd.stats().msgs, tape: window.__tickd.tapeRows(), ws: window.__tickd.state() }));
    return { usedMB: h.usedSize / 1048576, totalMB: h.totalSize / 1048576, nodes: m.Nodes, listeners: m.JSEventListeners, ...st };
  };
  log(`warm-up ${WARMUP} s`);
  await sleep(WARMUP * 1000);
  const t0 = Date.now();
  const samples = [];
  for (;;) {
    const s = { t: Math.round((Date.now() - t0) / 1000), ...(await measure()) };
    samples.push(s);
    console.log(`sample t=${String(s.t).padStart(4)}s heap ${s.usedMB.toFixed(2)} MB (total ${s.totalMB.toFixed(1)}) dom ${s.dom} nodes ${s.nodes} listeners ${s.listeners} bars [${s.panes.join(',')}] msgs ${s.msgs} tape ${s.tape} ${s.ws}`);
    if (Date.now() - t0 >= (SECONDS - WARMUP) * 1000) break;
    await sleep(Math.min(SAMPLE * 1000, Math.max(1000, (SECONDS - WARMUP) * 1000 - (Date.now() - t0))));
  }
  await page.screenshot({ path: path.join(SHOTS, 'memory-6-charts.png') });
  const first = samples[0], last = samples[samples.length - 1];
  const growth = last.usedMB - first.usedMB;
  R.ok(samples.length >= 3, 'enough samples', String(samples.length));
  R.ok(last.msgs - first.msgs > 1000, 'live data flowed during the run', `${last.msgs - first.msgs} messages`);
  R.ok(growth < HEAP_BOUND_MB, `JS heap growth after GC under ${HEAP_BOUND_MB} MB`, `${first.usedMB.toFixed(2)} -> ${last.usedMB.toFixed(2)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(2)} MB) over ${last.t} s`);
  const tail = samples.slice(Math.floor(samples.length * 2 / 3));
  const tailGrowth = tail[tail.length - 1].usedMB - Math.min(...tail.map((s) => s.usedMB));
  R.ok(tailGrowth < HEAP_BOUND_MB / 2, 'no climb in the last third of the run', `+${tailGrowth.toFixed(2)} MB`);
  R.ok(Math.abs(last.dom - first.dom) <= first.dom * NODES_BOUND, 'elements in the document flat', `${first.dom} -> ${last.dom}`);
  // Blink's node counter also holds detached nodes not yet collected (panels re-render every 2 s): a leak
  // would make it climb without bound, churn only makes it move.
  R.ok(last.nodes <= first.nodes * 2, 'DOM node counter (incl. detached) bounded', `${first.nodes} -> ${last.nodes}`);
  R.ok(last.listeners <= first.listeners * 1.1 + 10, 'event listeners flat', `${first.listeners} -> ${last.listeners}`);
  R.ok(last.panes.every((n) => n <= MAX_BARS + Math.ceil(MAX_BARS / 4)), 'candles per chart capped', `[${last.panes.join(',')}]`);
  R.ok(last.tape <= 60, 'tape rows capped', String(last.tape));
  R.ok(problems.length === 0, 'no console errors', problems.join(' | ').slice(0, 500));
  const out = path.join(SHOTS, `memory-${SECONDS}s.json`);
  fs.writeFileSync(out, JSON.stringify({ server: srv.kind, seconds: SECONDS, bound_mb: HEAP_BOUND_MB, samples }, null, 1));
  log('samples written to ' + out);
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
