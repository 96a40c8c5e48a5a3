// lib.mjs: shared pieces of the browser tests: a server under test (a real build/tickd with the simulator
// feed, or tests/web/mock_server.py while the API is not in the build), headless Chromium through
// playwright-core (never downloads a browser: Debian's /usr/bin/chromium), and small test helpers.
// Every process started here is stopped by its PID.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SRC = process.env.TD_SOURCE_DIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = process.env.TD_BUILD_DIR || path.join(SRC, 'build');
export const WEB_ROOT = path.join(SRC, 'web', 'dist');
export const SHOTS = path.join(BUILD, 'screenshots');
export const CHROMIUM = process.env.TD_CHROMIUM || '/usr/bin/chromium';
const require = createRequire(path.join(SRC, 'web', 'package.json'));

// ctest SKIP_RETURN_CODE; under CI (TD_REQUIRE_WEB=1, set by .ci/run) a missing prerequisite is a failure,
// so a dashboard that did not build can never pass silently.
export const SKIP = process.env.TD_REQUIRE_WEB === '1' ? 1 : 77;

// Children still running when this process exits (a thrown error, a timeout) are killed by PID.
const children = new Set();
process.on('exit', () => { for (const p of children) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

export function log(...a) { console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export function prerequisites() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  try { require.resolve('playwright-core'); } catch { missing.push('playwright-core (cd web && npm ci)'); }
  if (!fs.existsSync(path.join(WEB_ROOT, 'index.html'))) missing.push('web/dist (make web)');
  return missing;
}

// ---- the server under test ----

async function httpOk(port, p = '/healthz', timeoutMs = 500) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.status;
  } catch { return 0; }
}

export class ServerUnderTest {
  constructor({ mode = process.env.TD_WEB_SERVER || 'auto', rate = 5000 } = {}) {
    this.mode = mode;
    this.rate = rate;
    this.feedExtra = ''; // appended to the sim spec, e.g. ';gap_every=3000'
    this.proc = null;
    this.kind = null;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tickd-web-'));
  }

  async start(port) {
    this.port = port || this.port || (await freePort());
    if (this.kind) this.mode = this.kind; // a restart brings back the same kind of server
    if (this.mode !== 'mock') {
      if (await this._spawnTickd()) return this;
      if (this.mode === 'tickd') throw new Error('build/tickd does not serve HTTP on port ' + this.port);
    }
    await this._spawnMock();
    return this;
  }

  async _spawnTickd() {
    const bin = path.join(BUILD, 'tickd');
    if (!fs.existsSync(bin)) return false;
    this._spawn('tickd', bin, ['--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, '--feed', `sim:rate=${this.rate}${this.feedExtra}`],
      { TD_WEB_ROOT: WEB_ROOT });
    for (let i = 0; i < 60; i++) {
      const st = await httpOk(this.port, '/v1/symbols');
      if (st === 200) { this.kind = 'tickd'; return true; }
      if (this.proc.exitCode !== null) break;
      await sleep(100);
    }
    log(`build/tickd does not answer GET /v1/symbols on :${this.port} (the API is not in this build)`);
    await this.stop();
    return false;
  }

  async _spawnMock() {
    this._spawn('mock', '/usr/bin/python3', [path.join(SRC, 'tests/web/mock_server.py'), '--port', String(this.port), '--root', WEB_ROOT, '--rate', String(this.rate)]);
    for (let i = 0; i < 100; i++) {
      if ((await httpOk(this.port, '/healthz')) === 200) { this.kind = 'mock'; return; }
      if (this.proc.exitCode !== null) throw new Error('mock server exited: ' + this.output.slice(-2000));
      await sleep(100);
    }
    throw new Error('mock server did not start');
  }

  _spawn(kind, bin, args, env = {}) {
    this.output = '';
    const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output = (this.output + d).slice(-20000); };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    this.proc = p;
    children.add(p);
    p.once('exit', () => children.delete(p));
    log(`started ${kind} pid ${p.pid} on :${this.port}`);
  }

  // SIGTERM (or SIGKILL to simulate a crash), by PID, and wait for the exit.
  async stop(signal = 'SIGTERM') {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode) { this.proc = null; return; }
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
    await done;
    clearTimeout(t);
    this.proc = null;
  }

  url(p = '/') { return `http://127.0.0.1:${this.port}${p}`; }

  cleanup() { try { fs.rmSync(this.dataDir, { recursive: true, force: true }); } catch { /* */ } }
}

// ---- the browser ----

export async function launchBrowser() {
  const { chromium } = require('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tickd-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
  // A new empty profile directory for every run (playwright passes it as --user-data-dir).
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args, chromiumSandbox: false, timeout: 60000,
    viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1,
  });
  const close = async () => {
    await ctx.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { browser: ctx, close };
}

// A page (in the one browser context: pages share localStorage, like tabs) with console errors, page
// errors and failed requests collected.
export async function openPage(ctx, url, { width = 1440, height = 900, colorScheme = 'dark', init } = {}) {
  const page = await ctx.newPage();
  await page.setViewportSize({ width, height });
  await page.emulateMedia({ colorScheme });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('pageerror: ' + (e.stack || e.message)));
  if (init) await page.addInitScript(init);
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems };
}

export async function waitFor(page, fn, arg, { timeout = 15000, what = 'condition' } = {}) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
  }
}

// ---- reporting ----

export class Results {
  constructor(name) { this.name = name; this.pass = 0; this.fail = 0; this.notes = []; }
  ok(cond, what, detail = '') {
    if (cond) { this.pass++; console.log(`ok   ${what}${detail ? ' — ' + detail : ''}`); }
    else { this.fail++; console.log(`FAIL ${what}${detail ? ' — ' + detail : ''}`); }
    return cond;
  }
  note(s) { this.notes.push(s); console.log('note ' + s); }
  finish() {
    console.log(`${this.pass} passed, ${this.fail} failed`);
    return this.fail === 0 ? 0 : 1;
  }
}

export function ensureDir(d) { fs.mkdirSync(d, { recursive: true }); return d; }
export { fs, path, execFileSync };
