import os
import uuid

import psycopg
import pytest
import redis

from chatapp.cluster import LocalCluster

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def fresh_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="module")
def cluster_factory():
    started = []

    def make(replicas=3, port=8200, redis_db=14, database="chat_cluster_test", redis_url=None, **env):
        redis_url = redis_url or f"redis://127.0.0.1:6379/{redis_db}"
        redis.Redis.from_url(redis_url).flushdb()
        settings_env = {
            "DATABASE_URL": env.pop("DATABASE_URL", None) or fresh_database(database),
            "REDIS_URL": redis_url,
            "CHAT_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            "CHAT_RATE_LIMITS": "off",
            **{k: str(v) for k, v in env.items()},
        }
        cluster = LocalCluster(replicas=replicas, nginx_port=port, base_port=port + 1, env=settings_env)
        started.append(cluster)
        try:
            cluster.start()
        except Exception:
            print(cluster.logs())
            cluster.stop()
            raise
        return cluster

    yield make
    for cluster in started:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster(cluster_factory):
    return cluster_factory()


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CHAT_TEST_DB") == "sqlite":
        return
    for item in items:
        if "tests/test_cluster" in str(item.fspath) or "tests/test_faults" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)
