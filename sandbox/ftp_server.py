"""An FTP/FTPS server a warehouse would run: one chrooted home per login, uploads recorded.

`FtpEmulator(tls=True)` requires explicit FTPS (AUTH TLS, then PROT P) on the control and data
connections with a self-signed certificate made at start; `certificate_pem` is what a client
pins. Each login gets a temporary home with `in/ out/ archive/ errors/`. `mlsd=False` plays an
older server without MLSD/MLST (clients fall back to NLST). Faults: disconnect in the middle of
an upload after a number of bytes.

Run standalone: `python -m sandbox.ftp_server --tls --port 2121`.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

FOLDERS = ("in", "out", "archive", "errors")
# Everything but SITE CHMOD: list, read, write, rename, delete, mkdir, append.
PERMISSIONS = "elradfmwT"


@dataclass(frozen=True)
class Upload:
    """One STOR as the server saw it: who, where (inside the home), and whether it completed."""

    username: str
    path: str
    size: int
    completed: bool


@dataclass
class _UploadCut:
    after_bytes: int
    remaining: int


class FtpEmulator:
    """An FTP (or explicit FTPS) server on a daemon thread; see the module docstring."""

    name = "ftp"

    def __init__(self, *, tls: bool = False, mlsd: bool = True) -> None:
        self.tls = tls
        self.mlsd = mlsd
        self.lock = threading.RLock()
        self.uploads: list[Upload] = []
        self.certificate_pem = ""
        self.host = ""
        self.port = 0
        self._authorizer = DummyAuthorizer()
        self._homes: dict[str, Path] = {}
        self._cut: _UploadCut | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="sandbox-ftp-"))
        self._server: ThreadedFTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- accounts ----------------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> Path:
        """Create a login chrooted to a fresh home with the standard folders; return the home."""
        with self.lock:
            home = self._workdir / "homes" / username
            for folder in FOLDERS:
                (home / folder).mkdir(parents=True, exist_ok=True)
            # pyftpdlib reports real paths; resolve so recorded paths can be made relative.
            home = home.resolve()
            self._authorizer.add_user(username, password, str(home), perm=PERMISSIONS)
            self._homes[username] = home
            return home

    def home(self, username: str) -> Path:
        """Return the folder `username` sees as `/`."""
        return self._homes[username]

    def files(self, username: str, folder: str) -> list[str]:
        """Return the sorted names of the files in `folder` of `username`'s home."""
        return sorted(p.name for p in (self._homes[username] / folder).iterdir() if p.is_file())

    # -- faults ------------------------------------------------------------------------------

    def disconnect_upload_after(self, after_bytes: int, count: int = 1) -> None:
        """Drop the whole connection once the next `count` uploads have sent `after_bytes`."""
        with self.lock:
            self._cut = _UploadCut(after_bytes, count)

    def clear_faults(self) -> None:
        """Behave normally again."""
        with self.lock:
            self._cut = None

    def _take_cut(self, received: int) -> bool:
        with self.lock:
            cut = self._cut
            if cut is None or cut.remaining <= 0 or received < cut.after_bytes:
                return False
            cut.remaining -= 1
            return True

    def _record(self, handler: FTPHandler, file: str, *, completed: bool) -> None:
        home = self._homes.get(handler.username)
        path = Path(file)
        shown = "/" + str(path.relative_to(home)) if home and path.is_relative_to(home) else file
        size = path.stat().st_size if path.exists() else 0
        with self.lock:
            self.uploads.append(Upload(handler.username, shown, size, completed))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve on `host`:`port` (0 picks a free port) in a daemon thread; return both."""
        if self._server is not None:
            return self.host, self.port
        handler = self._handler_class(host)
        server = ThreadedFTPServer((host, port), handler)
        self._server = server
        self.host, self.port = server.address[:2]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._serve, args=(server,), name=f"sandbox-{self.name}", daemon=True
        )
        self._thread.start()
        return self.host, self.port

    def _serve(self, server: ThreadedFTPServer) -> None:
        # Short non-blocking rounds so stop() is noticed; close_all() must run on this thread.
        while not self._stopping.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    def stop(self) -> None:
        """Stop serving, disconnect every client and delete the homes; safe to call twice."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _handler_class(self, host: str) -> type[FTPHandler]:
        emulator = self

        class FaultyDTP(DTPHandler):
            def handle_read(self) -> None:
                super().handle_read()
                if self.receive and emulator._take_cut(self.tot_bytes_received):
                    self.cmd_channel.close()

            handle_read_event = handle_read

        # TLS_DTPHandler first: its TLS read path then ends in FaultyDTP.handle_read_event.
        class FaultyTlsDTP(TLS_DTPHandler, FaultyDTP):
            pass

        base: type[FTPHandler] = TLS_FTPHandler if self.tls else FTPHandler

        class Handler(base):
            authorizer = self._authorizer
            banner = "sandbox FTP ready"
            dtp_handler = FaultyTlsDTP if emulator.tls else FaultyDTP
            proto_cmds = {
                name: spec
                for name, spec in base.proto_cmds.items()
                if emulator.mlsd or name not in ("MLSD", "MLST")
            }
            timeout = 60
            # pyftpdlib waits 3 s after a failed login; tests need not.
            auth_failed_timeout = 0.1

            def on_file_received(self, file: str) -> None:
                emulator._record(self, file, completed=True)

            def on_incomplete_file_received(self, file: str) -> None:
                emulator._record(self, file, completed=False)

            def log(self, msg: str, logfun: Any = None) -> None:
                pass

            def logline(self, msg: str, logfun: Any = None) -> None:
                pass

        if self.tls:
            certfile = self._make_certificate(host)
            Handler.certfile = str(certfile)
            Handler.ssl_context = None
            Handler.tls_control_required = True
            Handler.tls_data_required = True
        return Handler

    def _make_certificate(self, host: str) -> Path:
        """Write a self-signed certificate (and key) for `host`, localhost and 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-ftp")])
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(names))), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        path = self._workdir / "server.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        path.chmod(0o600)
        return path


def main(argv: list[str] | None = None) -> int:
    """Serve one login until interrupted, printing where and with which credentials."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.ftp_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--tls", action="store_true", help="require explicit FTPS")
    parser.add_argument("--username", default="warehouse")
    parser.add_argument("--password", default="sandbox-ftp-password")
    args = parser.parse_args(argv)

    emulator = FtpEmulator(tls=args.tls)
    home = emulator.add_user(args.username, args.password)
    host, port = emulator.start(args.host, args.port)
    print(f"ftp emulator serving {'FTPS' if args.tls else 'FTP'} at {host}:{port}")
    print(f"  username: {args.username}")
    print(f"  password: {args.password}")
    print(f"  home: {home}")
    if args.tls:
        print(emulator.certificate_pem, end="")
    try:
        print("Ctrl-C stops it.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
