// ws_broadcast.js: the Node.js peer for bench_fanout: a `ws` (npm) WebSocket server doing tickd's fan-out
// job the way a Node service usually does it: clients send {"action":"subscribe","symbols":[...]}, the
// server generates `rate` tick messages per second round-robin over `symbols` symbols (each carrying
// recv_ns, the realtime ns when it was generated) and ws.send()s each one to every subscriber of its
// symbol. Usage: node ws_broadcast.js PORT RATE SYMBOLS
'use strict';
const WebSocket = require('ws');
const [port, rate, nsym] = process.argv.slice(2).map(Number);
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false,
                                   backlog: 4096 });
const subs = Array.from({ length: nsym }, () => new Set());
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch (e) { return; }
    if (m.action === 'subscribe' && Array.isArray(m.symbols)) {
      for (const s of m.symbols) { const i = parseInt(s.slice(1), 10); if (i >= 0 && i < nsym) subs[i].add(ws); }
      ws.send(JSON.stringify({ type: 'subscribed', symbols: m.symbols }));
    }
  });
  ws.on('close', () => { for (const set of subs) set.delete(ws); });
  ws.on('error', () => {});
});
const base = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
const t0 = process.hrtime.bigint();
let sent = 0n;
const names = Array.from({ length: nsym }, (_, i) => 'S' + String(i).padStart(3, '0'));
function pump() {
  const now = process.hrtime.bigint();
  const due = (now - t0) * BigInt(rate) / 1000000000n;
  let budget = 20000; // yield to I/O now and then even when behind
  while (sent < due && budget-- > 0) {
    const i = Number(sent % BigInt(nsym));
    const px = (100 + Number(sent % 1000n) / 100).toFixed(2);
    const msg = '{"type":"tick","symbol":"' + names[i] + '","price":' + px + ',"bid":' + px + ',"ask":' + px +
                ',"volume":100,"exchange":"NYSE","timestamp":' + Date.now() + ',"seq":' + sent +
                ',"recv_ns":' + (base + process.hrtime.bigint()) + '}';
    for (const ws of subs[i]) ws.send(msg);
    sent++;
  }
  // caught up: wait a millisecond (no busy loop: its CPU would count against the peer); behind: go on
  if (sent >= due) setTimeout(pump, 1); else setImmediate(pump);
}
pump();
setInterval(() => process.stdout.write('published ' + sent + '\n'), 1000);
process.on('SIGTERM', () => process.exit(0));
