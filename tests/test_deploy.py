"""The deployment files: nginx accepts its config, the YAML names what it should, the
Dockerfile runs what the cluster tests run, and `check --deploy` is clean."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from chatapp.cluster import BASE_DIR, LocalCluster, nginx_binary, render_nginx_conf

DEPLOY = BASE_DIR / "deploy"


def test_nginx_accepts_the_config(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(ports=[8001, 8002], listen=18080, static_root=tmp_path, pid_file=tmp_path / "pid"))
    result = subprocess.run([nginx_binary(), "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = (DEPLOY / "nginx.conf").read_text()
    for needle in ("least_conn", "proxy_set_header Upgrade", "proxy_read_timeout 3600s", "location /static/", "X-Forwarded-Proto"):
        assert needle in text


def test_compose_file():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "app1", "app2", "app3", "nginx"} <= set(services)
    assert services["migrate"]["entrypoint"][-2:] == ["migrate", "--noinput"]
    assert services["app1"]["environment"]["DJANGO_BEHIND_PROXY"] == "1"
    assert services["app1"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_kubernetes_manifests():
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [("Deployment", "chat"), ("Service", "chat"), ("Ingress", "chat"), ("StatefulSet", "chat-postgres"),
                     ("Deployment", "chat-redis"), ("ConfigMap", "chat-config"), ("Job", "chat-migrate"),
                     ("HorizontalPodAutoscaler", "chat"), ("NetworkPolicy", "chat-postgres-clients"),
                     ("NetworkPolicy", "chat-redis-clients")]:
        assert expected in kinds, expected
    assert not any(d["kind"] == "Secret" for d in docs)  # made by a command, never literal credentials
    for d in docs:
        for env in (d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0].get("env", [])):
            assert "value" not in env or "PASSWORD" not in env["name"], env
    for workload in [d for d in docs if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"].startswith("chat")
                     and d["metadata"]["name"] != "chat-redis"]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"]
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    for name, app in (("chat-postgres-clients", "chat-postgres"), ("chat-redis-clients", "chat-redis")):
        assert policies[name]["spec"]["podSelector"]["matchLabels"]["app"] == app
        assert {"app": "chat"} in [f["podSelector"]["matchLabels"] for f in policies[name]["spec"]["ingress"][0]["from"]]
    app = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "chat")
    spec = app["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert app["spec"]["replicas"] == 3 and spec["terminationGracePeriodSeconds"] >= 15
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "preStop" in container["lifecycle"] and container["resources"]["requests"]
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    assert statefulset["spec"]["volumeClaimTemplates"]


def test_dockerfile_runs_what_the_cluster_runs():
    text = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", text, re.M).group(1))
    assert entry == ["daphne"]
    assert json.loads(re.search(r"^CMD (.*)$", text, re.M).group(1))[-1] == "chatapp.asgi:application"
    import inspect

    source = inspect.getsource(LocalCluster.start_replica)
    assert 'with_name("daphne")' in source and '"chatapp.asgi:application"' in source
    for needle in ("FROM python:3.11-slim", "USER 10001:10001", "HEALTHCHECK", "/healthz", "collectstatic", "requirements.txt"):
        assert needle in text


def test_check_deploy_is_clean_with_a_production_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTEST"))}
    env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/chat",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DJANGO_SECRET_KEY="a-production-like-secret-key-with-enough-length-and-entropy-0123456789",
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        DJANGO_BEHIND_PROXY="1",
    )
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_deployment_without_a_secret_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTEST"))}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:5432/chat")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is required" in result.stderr


def test_embedded_default_needs_no_secret_and_keeps_debug_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("DJANGO", "PYTEST"))}
    env["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG, s.EMBEDDED, s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "chatapp.settings"},
                            capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True", "django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer"], result.stderr
    assert (BASE_DIR / ".secret_key").exists()
    assert ".secret_key" in (BASE_DIR / ".gitignore").read_text()



def test_manifests_validate_against_the_kubernetes_schemas():
    import kubernetes_validate

    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, "1.30", strict=True)


def test_the_dockerfile_passes_hadolint():
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, "--failure-threshold", "warning", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
