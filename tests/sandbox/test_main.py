"""`python -m sandbox <platform>` serves a seeded emulator until interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests


@pytest.mark.slow
def test_standalone_runner_prints_url_and_credentials_then_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "woocommerce", "--orders", "12", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = process.stdout.readline()
            assert line, "the runner exited before it was ready"
            lines.append(line.strip())
        settings = dict(line.split(": ", 1) for line in lines if ": " in line)
        response = requests.get(
            settings["api"] + "/orders",
            auth=(settings["consumer_key"], settings["consumer_secret"]),
            params={"per_page": 100},
            timeout=5,
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)

    assert lines[0].startswith("woocommerce emulator serving 12 orders at http://127.0.0.1:")
    assert response.status_code == 200
    assert len(response.json()) == 12
    assert process.returncode == 0
