import os

import pytest

from accounts.tests.fixtures import *  # noqa: F401,F403


def pytest_configure(config):
    if os.environ.get("CI") == "true":
        # In CI a missing service fails the run; tests never skip for lack of one.
        config.option.usepdb = False


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker):
    """Threads of database_sync_to_async keep connections; end them before the test
    database is dropped."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
