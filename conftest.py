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
