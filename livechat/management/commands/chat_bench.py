import json
import os
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from chatapp import bench


class Command(BaseCommand):
    help = (
        "Fan-out benchmark: N sockets, S senders at R messages/s for D seconds, against the product "
        "(one daphne process on PostgreSQL + Redis) and a plain `websockets` broadcast server (the ceiling), "
        "in the same run. Prints a table (or --json)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sockets", type=int, default=1000)
        parser.add_argument("--senders", type=int, default=4)
        parser.add_argument("--rate", type=float, default=50, help="messages per second, all senders together")
        parser.add_argument("--duration", type=float, default=10)
        parser.add_argument("--workers", type=int, default=2, help="load-client processes")
        parser.add_argument("--client", choices=["python", "node"], default="python",
                            help="load client: Python websockets, or Node ws (bench/loadclient.js; cd bench && npm ci)")
        parser.add_argument("--servers", default="product,baseline",
                            help="fan-out runs: product, baseline (plain websockets), stock-redis and stock-memory "
                                 "(stock Channels consumers on daphne), or none (only --history/--store/--auth)")
        parser.add_argument("--asgi-servers", default="daphne",
                            help="ASGI servers to run the product under: daphne and/or uvicorn (needs uvicorn installed)")
        parser.add_argument("--history", type=int, default=0, help="also time history pages with this many stored messages")
        parser.add_argument("--store", type=int, default=0, metavar="REPLICAS",
                            help="also measure message store + broadcast rate across this many replicas")
        parser.add_argument("--auth", action="store_true", help="also measure logins/s and refreshes/s (HTTP)")
        parser.add_argument("--rooms", type=int, default=0, metavar="ROOMS",
                            help="also measure what rooms cost one replica (chatapp/bench_rooms.py) with this many rooms")
        parser.add_argument("--room-sockets", type=int, default=5000,
                            help="with --rooms: signed-in sockets, each user a member of 20 rooms")
        parser.add_argument("--search", type=int, default=0, metavar="MESSAGES",
                            help="also time /api/search with this many messages stored over 1,000 rooms")
        parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/chat_bench")
        parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        if o["sockets"] < 1 or o["senders"] < 1 or o["rate"] <= 0 or o["duration"] <= 0 or o["workers"] < 1:
            raise CommandError("--sockets, --senders, --workers must be ≥ 1 and --rate, --duration > 0")
        kinds = [k.strip() for k in o["servers"].split(",") if k.strip() and k.strip() != "none"]
        if set(kinds) - {"product", "baseline", "stock-redis", "stock-memory"}:
            raise CommandError("--servers takes product, baseline, stock-redis, stock-memory, or none")
        if not kinds and not (o["history"] or o["store"] or o["auth"] or o["search"] or o["rooms"]):
            raise CommandError("nothing to measure: --servers none needs --history, --store, --auth, --search or --rooms")
        if o["rooms"] and (o["rooms"] < 3 or o["room_sockets"] < 20):
            raise CommandError("--rooms must be at least 3 and --room-sockets at least 20")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
        env.update(DATABASE_URL=o["database_url"], REDIS_URL=o["redis_url"], CHAT_RATE_LIMITS="off",
                   DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or "bench-secret-key-" + "x" * 40,
                   CHAT_IDLE_TIMEOUT="3600", CHAT_MAX_SOCKETS_PER_IP="1000000",  # every load socket comes from 127.0.0.1
                   CHAT_PASSWORD_CHECKS_MAX="64")  # --auth measures sign-ins/s, not the admission bound
        if "product" in kinds or o["history"] or o["store"] or o["auth"] or o["search"] or o["rooms"]:
            self._ensure_database(o["database_url"])
        if o["client"] == "node" and kinds and (why := bench.node_client_missing()):
            raise CommandError(f"--client node: {why}")
        asgi_servers = [a.strip() for a in o["asgi_servers"].split(",") if a.strip()]
        if set(asgi_servers) - set(bench.SERVER_COMMANDS):
            raise CommandError("--asgi-servers takes daphne and/or uvicorn")
        runs = [(k, a) for k in kinds for a in (asgi_servers if k == "product" else ["-"])]
        results = []
        for i, (kind, asgi_server) in enumerate(runs):
            server = bench.ServerUnderTest(kind, o["port"] + i, env, asgi_server if kind == "product" else "daphne")
            with tqdm(total=int(o["duration"]), desc=f"{kind}: {o['sockets']} sockets", unit="s",
                      disable=None, file=self.stderr._out) as bar:
                results.append(bench.run_one(server, sockets=o["sockets"], senders=o["senders"], rate=o["rate"],
                                             duration=o["duration"], workers=o["workers"], progress=bar.update,
                                             client=o["client"]))
        history = None
        if o["history"]:
            self.stderr.write(f"history: {o['history']} stored messages…")
            history = bench.history_bench(o["port"] + 10, env, o["history"])
        store = None
        if o["store"]:
            self.stderr.write(f"store + broadcast across {o['store']} replicas…")
            store = bench.store_bench(env, o["port"] + 20, replicas=o["store"])
        auth = None
        if o["auth"]:
            self.stderr.write("logins and refreshes…")
            auth = bench.auth_bench(o["port"] + 30, env)
        search = None
        if o["search"]:
            self.stderr.write(f"search: {o['search']} stored messages over 1,000 rooms…")
            search = bench.search_bench(o["port"] + 40, env, o["search"])
        rooms = None
        if o["rooms"]:
            from chatapp.bench_rooms import rooms_bench

            self.stderr.write(f"rooms: {o['rooms']} rooms, {o['room_sockets']} signed-in sockets…")
            rooms = rooms_bench(o["port"] + 50, env, rooms=o["rooms"], sockets=o["room_sockets"])
        if o["json"]:
            self.stdout.write(json.dumps({"fanout": [r.__dict__ for r in results], "history": history, "store": store,
                                          "auth": auth, "search": search, "rooms": rooms}, indent=2))
            return
        self._table(results, history)
        if store:
            self.stdout.write(f"store + broadcast: {store['stored_per_s']} messages/s across {store['replicas']} replicas "
                              f"({store['stored']} stored, {store['failed']} failed, {store['senders']} senders)")
        if search:
            for label in ("rare", "common", "two words"):
                s = search[label]
                self.stdout.write(f"search {label} ({s['q']!r}, {search['stored']} messages, {search['rooms']} rooms): "
                                  f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms")
        if rooms:
            self.stdout.write(
                f"rooms ({rooms['rooms']} rooms, {rooms['sockets']} sockets): open with 20 rooms each "
                f"{rooms['open_20_rooms_each_s']} s vs default room only {rooms['open_default_only_s']} s "
                f"(×{rooms['open_ratio']}); 10-member room CPU/delivery "
                f"{rooms['ten_member_room_loaded']['cpu_us_per_delivery']} µs loaded vs "
                f"{rooms['ten_member_room_100_sockets']['cpu_us_per_delivery']} µs with 100 sockets (×{rooms['cost_ratio']}); "
                f"1,000-socket room {rooms['big_room']['deliveries_per_s']}/s vs default room "
                f"{rooms['default_room']['deliveries_per_s']}/s (×{rooms['big_room_ratio']})")
        if auth:
            for kind in ("login", "refresh"):
                a = auth[kind]
                self.stdout.write(f"{kind}: {a['per_s']}/s from {auth['clients']} clients, p50 {a['p50_ms']} ms, "
                                  f"p99 {a['p99_ms']} ms, {a['server_cpu_ms_each']} ms server CPU each, {a['failed']} failed")

    def _table(self, results, history):
        cols = [("server", "server"), ("sent", "sent"), ("deliveries_offered_per_s", "offered/s"),
                ("deliveries_per_s", "reached/s"), ("undelivered", "lost"), ("duplicated", "dup"),
                ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"),
                ("server_cpu_s", "srv CPU s"), ("cpu_us_per_delivery", "µs/deliv"), ("rss_kb_per_socket", "KB/sock"),
                ("open_s", "open s"), ("client_cpu_s", "load CPU s")]
        if results:
            self.stdout.write("  ".join(f"{title:>10}" for _, title in cols))
        for r in results:
            self.stdout.write("  ".join(f"{str(getattr(r, key)):>10}" for key, _ in cols))
        baseline = next((r for r in results if r.server == "baseline"), None)
        for r in results:
            if r is not baseline and baseline and baseline.deliveries_per_s:
                self.stdout.write(f"{r.server} / baseline deliveries per second: {r.deliveries_per_s / baseline.deliveries_per_s:.2f}")
        if history:
            self.stdout.write(f"history pages with {history['stored']} messages: p50 {history['p50_ms']} ms, "
                              f"p99 {history['p99_ms']} ms over {history['requests']} requests")

    def _ensure_database(self, url):
        import psycopg

        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                    conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise CommandError(f"cannot reach PostgreSQL at {admin} ({exc}); start it (make services)") from None
        time.sleep(0)
