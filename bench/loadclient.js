// The load client of `manage.py chat_bench --client node`: the same job as
// chatapp/bench.py's Python load worker, at a fraction of its CPU, so that the
// client is not what limits the figures.
//
//   node loadclient.js URL COUNT SEED   (env BENCH_TOKENS: JSON list of access tokens)
//
// Opens COUNT sockets (100 handshakes in flight), signs every other one in with a
// token when tokens are given, prints {"connect_s": …}, then counts every message
// frame whose body is "bench <send time ns> …" until it reads "stop" on stdin, and
// prints {"deliveries", "duplicates", "unique", "latencies" (ns), "last_at"}.
"use strict";
const WebSocket = require("ws");

const [url, countArg, seedArg] = process.argv.slice(2);
const count = Number(countArg);
const tokens = JSON.parse(process.env.BENCH_TOKENS || "[]");
let seed = Number(seedArg) + 1;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);

const monotonic = () => Number(process.hrtime.bigint()) / 1e9; // CLOCK_MONOTONIC, as Python's time.monotonic()
const wallNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

const sockets = [];
const seen = [];
const latencies = [];
const state = { deliveries: 0, duplicates: 0, last_at: 0 };

function openOne(i) {
  return new Promise((resolve, reject) => {
    let attempt = 0;
    const tryOpen = () => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 20 });
      ws.once("open", () => {
        if (tokens.length && i % 2 === 0) {
          ws.send(JSON.stringify({ type: "auth", token: tokens[Math.floor(random() * tokens.length)] }));
        }
        const ids = new Set();
        seen.push(ids);
        sockets.push(ws);
        ws.on("message", (data) => {
          const frame = JSON.parse(data);
          if (frame.type !== "message") return;
          const body = frame.message.body;
          if (!body.startsWith("bench ")) return;
          state.deliveries += 1;
          if (ids.has(frame.message.id)) state.duplicates += 1;
          ids.add(frame.message.id);
          latencies.push(Number(wallNs() - BigInt(body.split(" ")[1])));
          state.last_at = monotonic();
        });
        ws.on("error", () => {});
        resolve();
      });
      ws.once("error", (err) => {
        if (++attempt >= 20) return reject(err);
        setTimeout(tryOpen, 100 * attempt);
      });
    };
    tryOpen();
  });
}

async function main() {
  const opened = monotonic();
  for (let batch = 0; batch < count; batch += 100) {
    const group = [];
    for (let i = batch; i < Math.min(count, batch + 100); i++) group.push(openOne(i));
    await Promise.all(group);
  }
  const connect_s = monotonic() - opened;
  process.stdout.write(JSON.stringify({ connect_s }) + "\n");
  let input = "";
  process.stdin.on("data", (chunk) => {
    input += chunk;
    if (!input.includes("stop")) return;
    const unique = seen.map((ids) => ids.size);
    process.stdout.write(JSON.stringify({ ...state, unique, latencies, connect_s }) + "\n", () => {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    });
  });
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err) }) + "\n");
  process.exit(1);
});
