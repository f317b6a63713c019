import pytest
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    from accounts.models import User

    counter = {"n": 0}

    def make(email=None, name=None, password=PASSWORD, **extra):
        counter["n"] += 1
        n = counter["n"]
        return User.objects.create_user(email=email or f"user{n}@example.com", name=name or f"User {n}", password=password, **extra)

    return make


@pytest.fixture
def user(make_user):
    return make_user(email="alice@example.com", name="Alice")


@pytest.fixture
def login(api):
    """Signs in through the API; returns the response (access token, cookie set on `api`)."""

    def do(email="alice@example.com", password=PASSWORD, client=None):
        client = client or api
        return client.post("/api/login", {"email": email, "password": password}, format="json")

    return do
