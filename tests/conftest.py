import os
import uuid

import psycopg
import pytest
import redis

from chatapp.cluster import LocalCluster
from playwright.sync_api import expect, sync_playwright

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

    def make(replicas=3, port=8200, redis_db=14, database="chat_cluster_test", redis_url=None, replica_env=None, **env):
        redis_url = redis_url or f"redis://127.0.0.1:6379/{redis_db}"
        redis.Redis.from_url(redis_url).flushdb()
        settings_env = {
            "DATABASE_URL": env.pop("DATABASE_URL", None) or fresh_database(database),
            "REDIS_URL": redis_url,
            "CHAT_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            "CHAT_RATE_LIMITS": "off",
            **{k: str(v) for k, v in env.items()},
        }
        cluster = LocalCluster(replicas=replicas, nginx_port=port, base_port=port + 1, env=settings_env,
                               replica_env=replica_env or {})
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


# ---- the browser tests' site and Chromium (tests/test_browser*.py) ------------------------
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def site(cluster_factory):
    return cluster_factory(replicas=2, port=8700, redis_db=10, database="chat_browser_test")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, site):
    contexts = []

    def make(color_scheme="light", viewport=None, base=None, allow_console=()):
        context = browser.new_context(color_scheme=color_scheme, viewport=viewport or {"width": 1100, "height": 760})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: m.type == "error" and not any(a in m.text for a in allow_console) and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto((base or f"http://127.0.0.1:{site.members[0].port}") + "/")
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
        return page

    yield make
    for context in contexts:
        context.close()


