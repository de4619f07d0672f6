"""FTP and explicit FTPS (AUTH TLS, PROT P) with ftplib.

Uploads go to `<name>.filepart` and are renamed when the server confirmed the whole file, so a
consumer never sees a partial file under its final name. FTP has no "rename unless the target
exists", and many servers (pyftpdlib, vsftpd) overwrite on RNTO: the target is checked just
before the rename, which leaves a small window in which another writer can still be overwritten.

Every socket, control and data, has a timeout. The control connection goes only to an address
that passed `cartrover.http.checked_addresses`; passive data connections go to the address of
the control connection, never to the address a PASV reply names (ftplib's default), so a server
cannot point the hub at another host.
"""

from __future__ import annotations

import ftplib
import io
import logging
import posixpath
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cartrover.adapters import AdapterError, AuthError, FieldSpec, TransientError
from wms.files.transports.base import (
    TEMP_SUFFIXES,
    FileVanished,
    HostKeyMismatch,
    TargetExists,
    Transport,
    open_checked_socket,
)
from wms.files.transports.local import checked_folder, checked_name, free_names, is_temporary

logger = logging.getLogger("wms.files.transports")

UPLOAD_SUFFIX = ".filepart"
DEFAULT_TIMEOUT = 30

# Spelled out here because inside the class `list` is the method of that name.
Entries = list[tuple[str, dict[str, str]]]


class _CheckedFTP(ftplib.FTP):
    """ftplib.FTP whose control connection goes only to addresses that passed the checks.

    `where` (the connection key) prefixes the errors of a refused or unreachable server.
    """

    where = "ftp"

    def connect(
        self,
        host: str = "",
        port: int = 0,
        timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        self.sock = open_checked_socket(
            self.host, self.port, self.where, self.timeout or DEFAULT_TIMEOUT
        )
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class _CheckedFTPTLS(_CheckedFTP, ftplib.FTP_TLS):
    """ftplib.FTP_TLS whose control connection goes only to addresses that passed the checks."""


class FtpTransport(Transport):
    """Exchange files with a warehouse's FTP or FTPS server.

    Folders are relative to the `root` setting (the login folder when empty); folder and file
    names are checked like every transport's (`wms.files.transports.local`).
    """

    kind = "ftp"
    label = "FTP / FTPS"
    credential_fields = [
        FieldSpec("password", "Password", type="password", required=True, secret=True),
    ]
    settings_fields = [
        FieldSpec("host", "Host", required=True, help="Name or address of the FTP server."),
        FieldSpec("port", "Port", type="int", default=21),
        FieldSpec("username", "Username", required=True),
        FieldSpec(
            "root",
            "Root folder",
            default="",
            help="Folders are relative to this; empty means the folder you log in to.",
        ),
        FieldSpec(
            "tls",
            "Encryption",
            type="choice",
            default="explicit",
            choices=(
                ("explicit", "Explicit FTPS (AUTH TLS)"),
                ("none", "None: plain FTP, password sent unencrypted"),
            ),
        ),
        FieldSpec(
            "ca_certificate",
            "Trusted certificate",
            type="textarea",
            default="",
            help="PEM certificate (or private CA) to trust instead of the public CAs, for a "
            "server with a self-signed certificate.",
        ),
        FieldSpec(
            "passive",
            "Passive mode",
            type="bool",
            default=True,
            help="Off only if the warehouse asks for active mode (the server connects back).",
        ),
        FieldSpec("timeout", "Timeout (seconds)", type="int", default=DEFAULT_TIMEOUT),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ftp: ftplib.FTP | None = None

    # -- connection --------------------------------------------------------------------------

    @property
    def _host(self) -> str:
        return str(self.settings["host"] or "").strip()

    @property
    def _port(self) -> int:
        return int(self.settings["port"] or 21)

    @property
    def _timeout(self) -> float:
        timeout = float(self.settings["timeout"] or DEFAULT_TIMEOUT)
        return timeout if timeout > 0 else DEFAULT_TIMEOUT

    @property
    def _tls(self) -> bool:
        mode = self.settings["tls"] or "explicit"
        if mode not in ("explicit", "none"):
            raise AdapterError(
                f"{self.connection_key}: unknown FTP encryption {mode!r}; "
                "choose explicit FTPS or none",
                permanent=True,
            )
        return bool(mode == "explicit")

    def open(self) -> None:
        """Connect and log in; raise AuthError, HostKeyMismatch, TransientError or refusal."""
        self._connection()

    def close(self) -> None:
        """Say goodbye and disconnect; never raises."""
        ftp, self._ftp = self._ftp, None
        if ftp is None:
            return
        try:
            ftp.quit()
        except Exception:
            ftp.close()

    def _connection(self) -> ftplib.FTP:
        """Return the logged-in connection, connecting again after a dropped one."""
        if self._ftp is not None:
            return self._ftp
        host, port = self._host, self._port
        if not host:
            raise AdapterError(f"{self.connection_key}: no FTP host is set up", permanent=True)
        ftp: ftplib.FTP
        if self._tls:
            ftp = _CheckedFTPTLS(context=self._tls_context(), timeout=self._timeout)
        else:
            ftp = _CheckedFTP(timeout=self._timeout)
        ftp.where = self.connection_key
        try:
            with self._failures(f"log in to {host}:{port}", ftp=ftp):
                ftp.connect(host, port)
                ftp.login(str(self.settings["username"] or ""), str(self.credentials["password"]))
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()
                ftp.set_pasv(bool(self.settings["passive"]))
        except AdapterError:
            ftp.close()
            raise
        logger.info(
            "%s: logged in to %s:%s (%s, %s mode)",
            self.connection_key,
            host,
            port,
            "FTPS" if self._tls else "FTP",
            "passive" if self.settings["passive"] else "active",
        )
        self._ftp = ftp
        return ftp

    def _tls_context(self) -> ssl.SSLContext:
        pem = str(self.settings["ca_certificate"] or "").strip()
        try:
            return ssl.create_default_context(cadata=pem or None)
        except (ssl.SSLError, ValueError):
            raise AdapterError(
                f"{self.connection_key}: the trusted certificate is not a PEM certificate; "
                "paste the server's certificate including the BEGIN/END lines",
                permanent=True,
            ) from None

    def _drop(self, ftp: ftplib.FTP | None = None) -> None:
        """Forget a connection in an unknown state; the next operation connects again."""
        ftp = ftp or self._ftp
        if ftp is self._ftp:
            self._ftp = None
        if ftp is not None:
            ftp.close()

    @contextmanager
    def _failures(
        self, doing: str, *, ftp: ftplib.FTP | None = None, vanished: str = ""
    ) -> Iterator[None]:
        """Turn ftplib and socket failures while `doing` into the typed adapter errors.

        With `vanished`, a 550 means that file is gone: FileVanished.
        """
        failure: AdapterError | None = None
        host = self._host
        try:
            yield
        except AdapterError:
            raise
        except ftplib.error_perm as exc:
            reply = self._redact(str(exc))
            if reply.startswith("530"):
                self._drop(ftp)
                failure = AuthError(
                    f"{self.connection_key}: {host} refused the login of "
                    f"{self.settings['username']!r} ({reply}); check the username and password"
                )
            elif reply.startswith("550") and vanished:
                failure = FileVanished(
                    f"{self.connection_key}: {vanished} is gone from {host} ({reply}); "
                    "another consumer probably took it"
                )
            else:
                failure = AdapterError(
                    f"{self.connection_key}: {host} refused to {doing}: {reply}", permanent=True
                )
        except ftplib.error_temp as exc:
            self._drop(ftp)
            failure = TransientError(
                f"{self.connection_key}: {host} could not {doing} for now: {self._redact(str(exc))}"
            )
        except ssl.SSLCertVerificationError as exc:
            self._drop(ftp)
            failure = HostKeyMismatch(
                f"{self.connection_key}: the TLS certificate of {host} could not be verified "
                f"({exc.verify_message}); if the warehouse changed it, check the new one with "
                "them and update the trusted certificate"
            )
        except TimeoutError:
            self._drop(ftp)
            failure = TransientError(
                f"{self.connection_key}: {host} did not answer in time while trying to {doing}"
            )
        except (OSError, EOFError, ftplib.Error) as exc:
            self._drop(ftp)
            failure = TransientError(
                f"{self.connection_key}: the connection to {host} failed while trying to "
                f"{doing} ({type(exc).__name__}: {self._redact(str(exc)) or 'closed'})"
            )
        if failure is not None:
            # Raised outside the except blocks so no library exception rides along.
            logger.info("%s", failure.message)
            raise failure

    def _redact(self, text: str) -> str:
        password = str(self.credentials.get("password") or "")
        return text.replace(password, "***") if password else text

    # -- paths -------------------------------------------------------------------------------

    def _folder_path(self, folder: str) -> str:
        """Return the server path of `folder` under the root ("" for the login folder)."""
        root = str(self.settings["root"] or "").strip()
        if "\x00" in root or "\n" in root or "\r" in root:
            raise AdapterError(
                f"{self.connection_key}: the root folder setting contains a control character",
                permanent=True,
            )
        parts = checked_folder(folder, self.connection_key)
        return posixpath.join(root, *parts) if root or parts else ""

    def _file_path(self, folder: str, name: str) -> str:
        name = checked_name(name, self.connection_key)
        if "\n" in name or "\r" in name:
            # FTP commands end at a line break: a name with one would smuggle in a command.
            raise AdapterError(
                f"{self.connection_key}: refused the file name {name!r}: it contains a line break",
                permanent=True,
            )
        folder_path = self._folder_path(folder)
        return posixpath.join(folder_path, name) if folder_path else name

    # -- the interface -----------------------------------------------------------------------

    def test(self) -> str:
        """Log in, list the root folder and say what is there."""
        entries = self._entries("")
        folders = sorted(name for name, facts in entries if facts.get("type") == "dir")
        where = self._folder_path("") or "the login folder"
        shown = ", ".join(folders) if folders else "no folders"
        return (
            f"Logged in to {self._host}:{self._port} as {self.settings['username']} "
            f"({'FTPS' if self._tls else 'plain FTP'}); {where} holds {shown}."
        )

    def put(self, folder: str, name: str, data: bytes) -> str:
        """Upload as `<name>.filepart`, then rename; an existing final file is never replaced."""
        final = self._file_path(folder, name)
        if is_temporary(name):
            raise AdapterError(
                f"{self.connection_key}: refused to upload {name!r}: readers skip names ending "
                f"in {', '.join(TEMP_SUFFIXES)}",
                permanent=True,
            )
        temp = final + UPLOAD_SUFFIX
        self._refuse_existing(folder, name, final)
        ftp = self._connection()
        with self._failures(f"upload {temp}", ftp=ftp):
            ftp.storbinary(f"STOR {temp}", io.BytesIO(data))
        # Checked again just before the rename: RNTO overwrites on most servers.
        self._refuse_existing(folder, name, final, leftover=temp)
        ftp = self._connection()
        with self._failures(f"rename {temp} to {final}", ftp=ftp):
            ftp.rename(temp, final)
        logger.info("%s: uploaded %s (%d bytes)", self.connection_key, final, len(data))
        return final

    def _refuse_existing(self, folder: str, name: str, final: str, leftover: str = "") -> None:
        if name not in {entry for entry, _ in self._entries(folder)}:
            return
        if leftover:
            self._delete_quietly(leftover)
        raise TargetExists(
            f"{self.connection_key}: {final} already exists on {self._host} and was not "
            "overwritten; it may be this file, sent by an earlier attempt. Check the folder "
            "with the warehouse before sending it again."
        )

    def _delete_quietly(self, path: str) -> None:
        try:
            self._connection().delete(path)
        except (AdapterError, OSError, EOFError, ftplib.Error):
            logger.info("%s: could not delete %s", self.connection_key, path)

    def list(self, folder: str) -> list[str]:
        """Return complete files in `folder`, oldest first; temporary names are skipped."""
        files = [
            (facts.get("modify", ""), name)
            for name, facts in self._entries(folder)
            if facts.get("type", "file") == "file" and not is_temporary(name)
        ]
        return [name for _, name in sorted(files)]

    def _entries(self, folder: str) -> Entries:
        """Return (name, facts) of everything in `folder`: MLSD, or NLST with MDTM times."""
        path = self._folder_path(folder)
        ftp = self._connection()
        with self._failures(f"list {path or 'the login folder'}", ftp=ftp):
            try:
                entries = list(ftp.mlsd(path, facts=["type", "modify"]))
            except ftplib.error_perm as exc:
                if not str(exc).startswith(("500", "501", "502", "504")):
                    raise
                entries = self._nlst_entries(ftp, path)
        result = []
        for name, facts in entries:
            name = posixpath.basename(name.rstrip("/"))
            if name in ("", ".", "..") or facts.get("type") in ("cdir", "pdir"):
                continue
            result.append((name, {k.lower(): v for k, v in facts.items()}))
        return result

    def _nlst_entries(self, ftp: ftplib.FTP, path: str) -> Entries:
        """List with NLST for servers without MLSD; MDTM gives the age where it is supported."""
        entries: Entries = []
        for name in ftp.nlst(*([path] if path else [])):
            facts: dict[str, str] = {}
            full = posixpath.join(path, posixpath.basename(name)) if path else name
            try:
                reply = ftp.sendcmd(f"MDTM {full}")
                facts = {"type": "file", "modify": reply.split()[-1]}
            except ftplib.error_perm:
                # Folders have no modification time on most servers: leave their type unknown.
                facts = {"type": "unknown"}
            entries.append((name, facts))
        return entries

    def get(self, folder: str, name: str) -> bytes:
        """Download a file; one gone since it was listed raises FileVanished."""
        path = self._file_path(folder, name)
        buffer = io.BytesIO()
        ftp = self._connection()
        with self._failures(f"download {path}", ftp=ftp, vanished=path):
            ftp.retrbinary(f"RETR {path}", buffer.write)
        return buffer.getvalue()

    def move(self, folder: str, name: str, to_folder: str) -> str:
        """Rename a file into `to_folder`; a taken name gets "_1", "_2", … before the extension."""
        source = self._file_path(folder, name)
        taken = {entry for entry, _ in self._entries(to_folder)}
        target_name = next((n for n in free_names(name) if n not in taken), None)
        if target_name is None:
            raise AdapterError(
                f"{self.connection_key}: could not move {source}: "
                f"{self._folder_path(to_folder)} already holds every suffixed name for it",
                permanent=True,
            )
        target = self._file_path(to_folder, target_name)
        ftp = self._connection()
        with self._failures(f"move {source} to {target}", ftp=ftp, vanished=source):
            ftp.rename(source, target)
        logger.info("%s: moved %s to %s", self.connection_key, source, target)
        return target
