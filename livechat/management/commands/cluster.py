import signal
import time

from django.core.management.base import BaseCommand, CommandError

from chatapp.cluster import LocalCluster


class Command(BaseCommand):
    help = (
        "Start N daphne replicas on loopback behind nginx, against PostgreSQL (DATABASE_URL, default "
        "postgres://postgres@127.0.0.1:5432/chat) and Redis (REDIS_URL, default redis://127.0.0.1:6379/0). "
        "Prints the URL; Ctrl-C stops everything it started."
    )

    def add_arguments(self, parser):
        parser.add_argument("--replicas", type=int, default=3)
        parser.add_argument("--port", type=int, default=8100, help="nginx's port (replicas use the next ones)")

    def handle(self, *args, replicas, port, **options):
        if not 1 <= replicas <= 32:
            raise CommandError("--replicas must be between 1 and 32")
        cluster = LocalCluster(replicas=replicas, nginx_port=port, base_port=port + 1)
        try:
            cluster.start()
        except Exception as exc:
            cluster.stop()
            raise CommandError(f"the cluster did not start: {exc}. Is PostgreSQL/Redis up? (make services)") from exc
        self.stdout.write(self.style.SUCCESS(f"{replicas} replicas behind nginx: {cluster.url}/  (Ctrl-C stops)"))
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop:
                time.sleep(0.5)
                for i, member in enumerate(cluster.members):
                    if member.process.poll() is not None:
                        self.stderr.write(f"replica {i} exited ({member.process.returncode}); restarting")
                        cluster.start_replica(i)
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
            self.stdout.write("stopped")
