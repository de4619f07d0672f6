"""An SFTP server emulator (paramiko's server side) for the file-exchange transports.

Each user logs in with a password and/or a public key and sees only their own folder (a chroot),
laid out as a warehouse's per-merchant login: `in/ out/ archive/ errors/`. The server has a
fixed host key, renames like OpenSSH (plain RENAME refuses an existing target;
posix-rename@openssh.com replaces it and can be switched off), records every operation, and
does what real servers do to clients on purpose: cut an upload off midway, pause one midway so
a test can look at the folder, or present a new host key at the same address.

Run one standalone with `python -m sandbox.sftp_server --port 2222`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import io
import os
import posixpath
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

MERCHANT_FOLDERS = ("in", "out", "archive", "errors")
# A paused upload resumes by itself after this many seconds, so no test can hang on it.
PAUSE_LIMIT = 30.0


def generate_host_key() -> paramiko.PKey:
    """Return a new Ed25519 key (paramiko cannot generate one itself)."""
    return paramiko.Ed25519Key.from_private_key(io.StringIO(_openssh_text(None)))


def _openssh_text(key: ed25519.Ed25519PrivateKey | None) -> str:
    key = key or ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()


def key_line(key: paramiko.PKey) -> str:
    """Return a key's public "type base64" line."""
    return f"{key.get_name()} {key.get_base64()}"


@dataclass(frozen=True)
class SftpOperation:
    """One thing a client did: `action` on `path` (paths as the client sees them).

    Actions: connect, auth, list, stat, open_read, open_write, close, cut, rename,
    posix_rename, remove, mkdir, rmdir. `size` is the bytes written for close and cut.
    """

    user: str
    action: str
    path: str = ""
    target: str = ""
    size: int = 0
    ok: bool = True


@dataclass
class SftpUser:
    """A login and the folder it is locked into."""

    name: str
    root: Path
    password: str | None = None
    public_key: paramiko.PKey | None = None

    def __repr__(self) -> str:
        return f"<SftpUser {self.name} {self.root}>"


@dataclass
class _Faults:
    cut_after: int | None = None
    pause_after: int | None = None
    cut_after_rename: bool = False
    # Connections still to drop as soon as they are accepted (the server is unreachable).
    drop_connections: int = 0


class SftpEmulator:
    """An SFTP server on a daemon thread, over folders of a local directory."""

    name = "sftp"

    def __init__(
        self,
        root: Path | str,
        *,
        host_key: paramiko.PKey | None = None,
        posix_rename: bool = True,
    ) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()
        self.users: dict[str, SftpUser] = {}
        self.operations: list[SftpOperation] = []
        # posix-rename@openssh.com; off, a plain RENAME onto an existing file fails (OpenSSH).
        self.posix_rename = posix_rename
        # Called with the local paths just before a RENAME or posix-rename is carried out.
        self.before_rename: Callable[[Path, Path], None] | None = None
        self.host = ""
        self.port = 0
        self._host_key = host_key or generate_host_key()
        self._faults = _Faults()
        self._unreachable_after_cut = 0
        self._paused = threading.Event()
        self._resume = threading.Event()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []

    def __repr__(self) -> str:
        return f"<SftpEmulator {self.host}:{self.port} {self.root}>"

    # -- users and keys ----------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        password: str | None = None,
        public_key: paramiko.PKey | str | None = None,
        folders: Iterable[str] = MERCHANT_FOLDERS,
    ) -> Path:
        """Add a login locked into `root/username` holding `folders`; return that folder."""
        if isinstance(public_key, str):
            kind, data = public_key.split()[:2]
            public_key = paramiko.PKey.from_type_string(kind, base64.b64decode(data))
        home = self.root / username
        for folder in folders:
            (home / folder).mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        with self.lock:
            self.users[username] = SftpUser(username, home, password, public_key)
        return home

    def host_key_line(self) -> str:
        """Return the public key the server presents now, as "ssh-ed25519 AAAA…"."""
        with self.lock:
            return key_line(self._host_key)

    @property
    def host_key(self) -> paramiko.PKey:
        """Return the host key new connections are served with."""
        with self.lock:
            return self._host_key

    def rotate_host_key(self, key: paramiko.PKey | None = None) -> str:
        """Serve new connections with another host key at the same address; return its line."""
        with self.lock:
            self._host_key = key or generate_host_key()
            return key_line(self._host_key)

    # -- faults ------------------------------------------------------------------------------

    def disconnect_after(self, n_bytes: int) -> None:
        """Cut the connection of the next upload once it has written `n_bytes` (once)."""
        with self.lock:
            self._faults.cut_after = n_bytes

    def disconnect_after_rename(self, *, then_unreachable_for: int = 0) -> None:
        """Carry out the next rename, then cut the connection before its answer (once): the
        file is in place under its final name, and the client never hears so. The next
        `then_unreachable_for` connections are dropped as soon as they are made, so the
        client cannot look the file up either."""
        with self.lock:
            self._faults.cut_after_rename = True
            self._unreachable_after_cut = then_unreachable_for

    def take_cut_after_rename(self) -> bool:
        """Say whether a rename just done must cut its connection (and forget the fault)."""
        with self.lock:
            cut, self._faults.cut_after_rename = self._faults.cut_after_rename, False
            if cut:
                self._faults.drop_connections = self._unreachable_after_cut
        return cut

    def pause_upload_after(self, n_bytes: int) -> None:
        """Hold the next upload once it has written `n_bytes`, until `resume_upload()`."""
        with self.lock:
            self._faults.pause_after = n_bytes
            self._paused.clear()
            self._resume.clear()

    def wait_until_paused(self, timeout: float = 10.0) -> bool:
        """Wait until an upload is held by `pause_upload_after`; return whether it is."""
        return self._paused.wait(timeout)

    def resume_upload(self) -> None:
        """Let a held upload go on."""
        self._resume.set()

    def clear_faults(self) -> None:
        """Behave normally again (a held upload resumes)."""
        with self.lock:
            self._faults = _Faults()
        self._resume.set()

    # -- records -----------------------------------------------------------------------------

    def record(self, operation: SftpOperation) -> None:
        """Append one operation to the record."""
        with self.lock:
            self.operations.append(operation)

    def actions(self, user: str | None = None) -> list[str]:
        """Return the recorded actions (of `user`), in order."""
        with self.lock:
            return [op.action for op in self.operations if user is None or op.user == user]

    def file(self, user: str, folder: str, name: str) -> Path:
        """Return the local path of a user's file, for tests to arrange and inspect."""
        return self.root / user / folder / name

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve on `host`:`port` (0 picks a free port) in a daemon thread; return both."""
        if self._listener is not None:
            return self.host, self.port
        self._stopping.clear()
        listener = socket.create_server((host, port))
        listener.settimeout(0.1)
        self._listener = listener
        self.host, self.port = listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name="sandbox-sftp", daemon=True)
        self._thread.start()
        return self.host, self.port

    def stop(self) -> None:
        """Stop serving and drop every connection; safe to call twice."""
        self._stopping.set()
        self._resume.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self.lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(
                target=self._serve_connection, args=(sock,), name="sandbox-sftp-conn", daemon=True
            ).start()

    def _serve_connection(self, sock: socket.socket) -> None:
        with self.lock:
            drop = self._faults.drop_connections > 0
            if drop:
                self._faults.drop_connections -= 1
        if drop:
            sock.close()
            return
        self.record(SftpOperation("", "connect"))
        transport = paramiko.Transport(sock)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _ChrootSftp, self)
        with self.lock:
            if self._stopping.is_set():
                transport.close()
                return
            self._transports = [t for t in self._transports if t.is_active()]
            self._transports.append(transport)
        try:
            transport.start_server(server=_Login(self, sock))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()  # the client went away or refused our key: nothing to serve

    # -- upload faults, called from the SFTP threads -----------------------------------------

    def _upload_limit(self, written: int, size: int) -> tuple[int, str]:
        """Return how many of `size` new bytes to write and then what to do: "", cut, pause."""
        with self.lock:
            faults = self._faults
            for fault, limit in (("cut", faults.cut_after), ("pause", faults.pause_after)):
                if limit is not None and written + size >= limit:
                    if fault == "cut":
                        faults.cut_after = None
                    else:
                        faults.pause_after = None
                    return max(0, limit - written), fault
        return size, ""


class _Login(paramiko.ServerInterface):
    """Authenticate one connection against the emulator's users."""

    def __init__(self, emulator: SftpEmulator, sock: socket.socket) -> None:
        self.emulator = emulator
        self.sock = sock
        self.username = ""

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        user = self.emulator.users.get(username)
        ok = bool(
            user is not None
            and user.password is not None
            and hmac.compare_digest(password.encode(), user.password.encode())
        )
        return self._result(username, "password", ok)

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        user = self.emulator.users.get(username)
        ok = bool(
            user is not None
            and user.public_key is not None
            and key.asbytes() == user.public_key.asbytes()
        )
        return self._result(username, "publickey", ok)

    def _result(self, username: str, method: str, ok: bool) -> int:
        self.emulator.record(SftpOperation(username, "auth", method, ok=ok))
        if ok:
            self.username = username
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def disconnect(self) -> None:
        """Drop the connection as a network failure would: no goodbye, just gone."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def _errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn OSError into the SFTP status a server answers, and refused paths into a denial."""

    def wrapper(self: _ChrootSftp, *args: Any) -> Any:
        try:
            return method(self, *args)
        except _OutsideRoot:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        except ValueError:  # a NUL character in a path
            return SFTP_FAILURE

    return wrapper


class _OutsideRoot(Exception):
    pass


class _ChrootSftp(paramiko.SFTPServerInterface):
    """The SFTP requests of one logged-in user, confined to the user's folder."""

    def __init__(self, login: _Login, emulator: SftpEmulator) -> None:
        super().__init__(login)
        self.login = login
        self.emulator = emulator
        self.user = login.username
        self.root = os.path.realpath(emulator.users[self.user].root)

    def _local(self, path: str) -> str:
        """Return the local path of a client path; "/" is the user's folder."""
        clean = posixpath.normpath("/" + path)  # ".." cannot climb above "/"
        local = os.path.join(self.root, clean.lstrip("/"))
        real = os.path.realpath(local)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise _OutsideRoot(path)
        return local

    def _record(self, action: str, path: str, target: str = "", size: int = 0, ok: bool = True):
        self.emulator.record(SftpOperation(self.user, action, path, target, size, ok))

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path)

    @_errors
    def list_folder(self, path: str) -> Any:
        local = self._local(path)
        self._record("list", path)
        found = []
        for name in os.listdir(local):
            try:
                stat = os.lstat(os.path.join(local, name))
            except FileNotFoundError:
                continue  # renamed or removed since the folder was read, as a server skips it
            attr = paramiko.SFTPAttributes.from_stat(stat)
            attr.filename = name
            found.append(attr)
        return found

    @_errors
    def stat(self, path: str) -> Any:
        self._record("stat", path)
        return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))

    @_errors
    def lstat(self, path: str) -> Any:
        self._record("stat", path)
        return paramiko.SFTPAttributes.from_stat(os.lstat(self._local(path)))

    @_errors
    def open(self, path: str, flags: int, attr: Any) -> Any:
        local = self._local(path)
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
        self._record("open_write" if writing else "open_read", path)
        mode = getattr(attr, "st_mode", None) or 0o644
        fd = os.open(local, flags | getattr(os, "O_BINARY", 0), mode & 0o777)
        if flags & os.O_WRONLY:
            file_mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            file_mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            file_mode = "rb"
        handle = _Handle(self, path, flags, writing)
        handle.filename = local
        handle.readfile = handle.writefile = os.fdopen(fd, file_mode)
        return handle

    @_errors
    def remove(self, path: str) -> int:
        self._record("remove", path)
        os.remove(self._local(path))
        return SFTP_OK

    @_errors
    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._local(oldpath), self._local(newpath)
        self._before_rename(old, new)
        try:
            if os.path.isdir(old):
                if os.path.lexists(new):
                    raise FileExistsError(newpath)
                os.rename(old, new)
            else:
                # What OpenSSH does: link then unlink, so an existing target makes it fail.
                os.link(old, new, follow_symlinks=False)
                os.unlink(old)
        except OSError:
            self._record("rename", oldpath, newpath, ok=False)
            return SFTP_FAILURE
        self._record("rename", oldpath, newpath)
        return self._answer_rename()

    @_errors
    def posix_rename(self, oldpath: str, newpath: str) -> int:
        if not self.emulator.posix_rename:
            self._record("posix_rename", oldpath, newpath, ok=False)
            return SFTP_OP_UNSUPPORTED
        old, new = self._local(oldpath), self._local(newpath)
        self._before_rename(old, new)
        os.replace(old, new)
        self._record("posix_rename", oldpath, newpath)
        return self._answer_rename()

    def _answer_rename(self) -> int:
        if self.emulator.take_cut_after_rename():
            self.login.disconnect()
        return SFTP_OK

    def _before_rename(self, old: str, new: str) -> None:
        hook = self.emulator.before_rename
        if hook is not None:
            hook(Path(old), Path(new))

    @_errors
    def mkdir(self, path: str, attr: Any) -> int:
        self._record("mkdir", path)
        os.mkdir(self._local(path))
        return SFTP_OK

    @_errors
    def rmdir(self, path: str) -> int:
        self._record("rmdir", path)
        os.rmdir(self._local(path))
        return SFTP_OK

    @_errors
    def chattr(self, path: str, attr: Any) -> int:
        paramiko.SFTPServer.set_file_attr(self._local(path), attr)
        return SFTP_OK


class _Handle(paramiko.SFTPHandle):
    """An open file that counts what is written and carries out the upload faults."""

    def __init__(self, session: _ChrootSftp, path: str, flags: int, writing: bool) -> None:
        super().__init__(flags)
        self.session = session
        self.path = path
        self.writing = writing
        self.written = 0
        self.cut = False

    def write(self, offset: int, data: bytes) -> int:
        if self.cut:
            return SFTP_FAILURE
        emulator = self.session.emulator
        allowed, fault = emulator._upload_limit(self.written, len(data))
        if allowed:
            result = super().write(offset, data[:allowed])
            if result != SFTP_OK:
                return result
            self.written += allowed
        if fault == "cut":
            self.cut = True
            self.writefile.flush()
            self.session._record("cut", self.path, size=self.written)
            self.session.login.disconnect()
            return SFTP_FAILURE
        if fault == "pause":
            emulator._paused.set()
            emulator._resume.wait(PAUSE_LIMIT)
            rest = data[allowed:]
            if rest:
                result = super().write(offset + allowed, rest)
                if result != SFTP_OK:
                    return result
                self.written += len(rest)
        return SFTP_OK

    def stat(self) -> Any:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def close(self) -> None:
        super().close()
        if self.writing:
            self.session._record("close", self.path, size=self.written, ok=not self.cut)


# --- Standalone runner ----------------------------------------------------------------------


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """Return the host key saved at `path`, creating it on first use (so it stays pinned)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(_openssh_text(None))
    return paramiko.Ed25519Key.from_private_key(io.StringIO(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    """Serve one SFTP emulator with one merchant login until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.sftp_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--root", default="var/sandbox/sftp", help="folder holding the users")
    parser.add_argument("--user", default="merchant", help="login name (default merchant)")
    parser.add_argument("--password", default="", help="password (default: a random one)")
    parser.add_argument(
        "--host-key-file",
        default="var/sandbox/sftp_host_key",
        help="host key, created on first run so the pinned key survives restarts",
    )
    parser.add_argument(
        "--no-posix-rename", action="store_true", help="refuse posix-rename@openssh.com"
    )
    args = parser.parse_args(argv)

    password = args.password or secrets.token_urlsafe(12)
    emulator = SftpEmulator(
        args.root,
        host_key=load_or_create_host_key(Path(args.host_key_file)),
        posix_rename=not args.no_posix_rename,
    )
    home = emulator.add_user(args.user, password=password)
    host, port = emulator.start(args.host, args.port)
    print(f"sftp emulator serving {home} at {host}:{port}")
    print(f"  username: {args.user}")
    print(f"  password: {password}")
    print(f"  host key: {emulator.host_key_line()}")
    print(f"  fingerprint: {emulator.host_key.fingerprint}")
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
