"""Production settings: required variables named on start-up, `check --deploy` clean."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "hub.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://hub:pw@db.example.com:5432/hub",
    "CELERY_BROKER_URL": "redis://cache.example.com:6379/0",
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    clean.update(env, VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_each_missing_production_setting_stops_start_up_naming_it(tmp_path):
    for name in PRODUCTION:
        if name == "DEBUG":
            continue
        env = {k: v for k, v in PRODUCTION.items() if k != name}
        result = manage("check", env=env, tmp_path=tmp_path)
        assert result.returncode != 0, name
        assert name in result.stderr, (name, result.stderr[-500:])


def test_a_malformed_encryption_key_stops_start_up_naming_the_setting(tmp_path):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": "this-is-not-a-fernet-key"}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_embedded_default_needs_nothing_set_and_keeps_its_keys(tmp_path):
    first = manage("check", env={"DEBUG": "true"}, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    keys = (tmp_path / "field-encryption-keys").read_text()
    manage("check", env={"DEBUG": "true"}, tmp_path=tmp_path)
    assert (tmp_path / "field-encryption-keys").read_text() == keys
    assert (tmp_path / "secret-key").exists()


def test_a_redis_cache_url_gives_every_process_one_shared_cache(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        env={"CACHE_URL": "redis://127.0.0.1:6379/9"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "redis" in result.stdout.lower()


def test_every_setting_read_from_the_environment_is_listed_in_env_example():
    read = set(
        re.findall(
            r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', (ROOT / "cartrover/settings.py").read_text()
        )
    )
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert len(read) > 20  # the pattern still finds the settings
    assert read - listed == set()
