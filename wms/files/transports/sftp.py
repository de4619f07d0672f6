"""Exchange files with a warehouse's SFTP server (paramiko), trusting only the pinned host key.

The server's host key is read once at setup (`fetch_host_key`), shown to the user with its
fingerprint and saved as a setting when they accept it: trust on first use is a user action,
never automatic. Every later connection refuses any other key before a password or private
key is sent.

Uploads go to `name.filepart` and are renamed when complete (posix-rename@openssh.com, or a
plain RENAME where the server lacks it), so the warehouse never reads half a file, and a final
file already there is never overwritten silently. Destinations on private networks are refused
like the HTTP client's (`cartrover.http.checked_addresses`), unless settings allow them.

One SftpTransport holds one connection and is not shared between threads. After a lost
connection the next call connects again.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import posixpath
import stat
from collections.abc import Mapping
from typing import Any

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from cartrover.adapters import AdapterError, AuthError, FieldSpec, TransientError
from cartrover.http import redact
from wms.files.transports.base import (
    TEMP_SUFFIXES,
    FileVanished,
    HostKeyMismatch,
    TargetExists,
    Transport,
    open_checked_socket,
)
from wms.files.transports.local import (
    checked_folder,
    checked_name,
    free_names,
    is_temporary,
)

logger = logging.getLogger("wms.files.transports")

DEFAULT_PORT = 22
UPLOAD_SUFFIX = ".filepart"
# Seconds: opening the TCP connection; the SSH banner and key exchange; authentication; and
# each SFTP request after that.
CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 15.0
AUTH_TIMEOUT = 20.0
OPERATION_TIMEOUT = 60.0

_PRIVATE_KEY_CLASSES: tuple[tuple[type[Any], type[paramiko.PKey]], ...] = (
    (rsa.RSAPrivateKey, paramiko.RSAKey),
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
)


# --- Keys ------------------------------------------------------------------------------------


def parse_host_key(line: str) -> paramiko.PKey:
    """Return the public key of a "ssh-ed25519 AAAA… [comment]" line (a known_hosts line too).

    Raises ValueError with a message for the user when the line holds no usable key.
    """
    tokens = (line or "").split()
    for index, token in enumerate(tokens[:-1]):
        if token.startswith(("ssh-", "ecdsa-")):
            try:
                data = base64.b64decode(tokens[index + 1], validate=True)
                return paramiko.PKey.from_type_string(token, data)
            except (binascii.Error, ValueError, paramiko.SSHException) as exc:
                raise ValueError(f"the {token} key in it cannot be read ({exc})") from None
    raise ValueError('it is not a public key line such as "ssh-ed25519 AAAA…"')


def host_key_line(key: paramiko.PKey) -> str:
    """Return the "type base64" line of a public key, as `fetch_host_key` returns it."""
    return f"{key.get_name()} {key.get_base64()}"


def host_key_fingerprint(line: str) -> str:
    """Return the SHA256 fingerprint of a host key line, as `ssh-keygen -lf` shows it."""
    return str(parse_host_key(line).fingerprint)


def load_private_key(text: str, passphrase: str = "") -> paramiko.PKey:
    """Return the private key in `text` (PEM or OpenSSH), decrypted with `passphrase`.

    Raises AuthError with a message that never contains the key or the passphrase.
    """
    data = text.strip().encode() + b"\n"
    password = passphrase.encode() if passphrase else None
    try:
        try:
            loaded: Any = serialization.load_ssh_private_key(data, password)
        except ValueError:
            if b"BEGIN OPENSSH PRIVATE KEY" in data:
                raise
            loaded = serialization.load_pem_private_key(data, password)
    except TypeError:
        if password is None:
            raise AuthError("the private key is encrypted: enter its passphrase") from None
        # A passphrase for a key that has none: the key is what counts.
        return load_private_key(text)
    except (ValueError, UnsupportedAlgorithm):
        raise AuthError(
            "the private key could not be read: paste the whole key, BEGIN and END lines "
            "included (PEM or OpenSSH format), and check its passphrase"
        ) from None
    for crypto_class, key_class in _PRIVATE_KEY_CLASSES:
        if isinstance(loaded, crypto_class):
            plain = loaded.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
            return key_class.from_private_key(io.StringIO(plain.decode()))
    raise AuthError("the private key is of an unsupported type: use an Ed25519, ECDSA or RSA key")


def fetch_host_key(
    host: str, port: int = DEFAULT_PORT, *, timeout: float = HANDSHAKE_TIMEOUT
) -> str:
    """Connect to an SFTP server, read its host key and return it as a "type base64" line.

    Nothing is authenticated and nothing is trusted: show the line and its fingerprint
    (`host_key_fingerprint`) to the user, who compares it with the one the warehouse gives and
    saves it as the connection's host key. Raises TransientError or BlockedDestination.
    """
    where = f"SFTP server {host}:{port}"
    sock = open_checked_socket(host, port, where, min(timeout, CONNECT_TIMEOUT))
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    failure: AdapterError | None = None
    key = None
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        failure = TransientError(f"{where}: could not read the host key ({reason})")
    finally:
        transport.close()
    if failure is not None or key is None:
        raise failure or TransientError(f"{where}: the server sent no host key")
    return host_key_line(key)


# --- The transport ---------------------------------------------------------------------------


class SftpTransport(Transport):
    """Files in folders under a root path on an SFTP server."""

    kind = "sftp"
    label = "SFTP"
    settings_fields = [
        FieldSpec("host", "Server", required=True, help="Host name or address of the server."),
        FieldSpec("port", "Port", type="int", default=DEFAULT_PORT),
        FieldSpec("username", "User name", required=True),
        FieldSpec(
            "root",
            "Root folder",
            default="",
            help="The folder holding in/, out/, archive/…; blank: the login folder.",
        ),
        FieldSpec(
            "host_key",
            "Server host key",
            type="textarea",
            required=True,
            help="The server's public key (ssh-ed25519 AAAA…), read at setup and confirmed "
            "with the warehouse. Connections presenting another key are refused.",
        ),
    ]
    credential_fields = [
        FieldSpec("password", "Password", type="password", secret=True),
        FieldSpec(
            "private_key",
            "Private key",
            type="textarea",
            secret=True,
            help="PEM or OpenSSH private key, instead of or besides the password.",
        ),
        FieldSpec("passphrase", "Private key passphrase", type="password", secret=True),
    ]

    connect_timeout = CONNECT_TIMEOUT
    handshake_timeout = HANDSHAKE_TIMEOUT
    auth_timeout = AUTH_TIMEOUT
    operation_timeout = OPERATION_TIMEOUT

    def __init__(
        self, *, credentials: Mapping[str, Any], settings: Mapping[str, Any], connection_key: str
    ) -> None:
        super().__init__(credentials=credentials, settings=settings, connection_key=connection_key)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        # Cleared once the server turns posix-rename@openssh.com down: plain RENAME from then on.
        self._posix_rename = True

    # -- connection ------------------------------------------------------------------------

    @property
    def _address(self) -> str:
        return f"{self.settings.get('host')}:{self._port}"

    @property
    def _port(self) -> int:
        try:
            return int(self.settings.get("port") or DEFAULT_PORT)
        except (TypeError, ValueError):
            raise AdapterError(
                f"{self.connection_key}: the port {self.settings.get('port')!r} is not a number",
                permanent=True,
            ) from None

    def _secrets(self) -> list[str]:
        values = [str(self.credentials.get(name) or "") for name in ("password", "passphrase")]
        key_text = str(self.credentials.get("private_key") or "")
        values += [key_text, *(line.strip() for line in key_text.splitlines())]
        return [value for value in values if len(value) >= 4]

    def _redact(self, text: str) -> str:
        return redact(text, sorted(self._secrets(), key=len, reverse=True))

    def open(self) -> None:
        if self._sftp is not None and self._connected():
            return
        self.close()
        host = str(self.settings.get("host") or "").strip()
        username = str(self.settings.get("username") or "")
        port = self._port
        where = f"{self.connection_key}: SFTP server {host}:{port}"
        if not host or not username:
            raise AdapterError(
                f"{self.connection_key}: enter the SFTP server and user name", permanent=True
            )
        try:
            pinned = parse_host_key(str(self.settings.get("host_key") or ""))
        except ValueError as exc:
            raise AdapterError(
                f"{self.connection_key}: the saved host key cannot be used: {exc}. Read the "
                "server's key again in the connection setup and confirm it with the warehouse.",
                permanent=True,
            ) from None
        password = str(self.credentials.get("password") or "") or None
        pkey = None
        if self.credentials.get("private_key"):
            try:
                pkey = load_private_key(
                    str(self.credentials["private_key"]),
                    str(self.credentials.get("passphrase") or ""),
                )
            except AuthError as exc:
                raise AuthError(f"{self.connection_key}: {exc.message}") from None
        if password is None and pkey is None:
            raise AuthError(f"{self.connection_key}: enter a password or a private key")

        sock = open_checked_socket(host, port, where, self.connect_timeout)
        client = paramiko.SSHClient()
        # Only the pinned key is known, and an unknown key is rejected, never added.
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.get_host_keys().add(_known_hosts_name(host, port), pinned.get_name(), pinned)
        failure: AdapterError | None = None
        try:
            client.connect(
                host,
                port,
                username=username,
                password=password,
                pkey=pkey,
                sock=sock,
                timeout=self.handshake_timeout,
                banner_timeout=self.handshake_timeout,
                auth_timeout=self.auth_timeout,
                channel_timeout=self.operation_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.operation_timeout)
        except paramiko.BadHostKeyException as exc:
            failure = HostKeyMismatch(
                f"{where} presented the host key {exc.key.get_name()} {exc.key.fingerprint}, "
                f"not the key saved at setup ({pinned.fingerprint}). The server's key changed, "
                "or someone is intercepting the connection: nothing was sent. Verify the new "
                "fingerprint with the warehouse before accepting the new key in the connection "
                "setup."
            )
        except paramiko.AuthenticationException:
            failure = AuthError(
                f"{where} refused the login of {username!r}: check the password or private key "
                "with the warehouse, then enter them again"
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = self._redact(str(exc)) or type(exc).__name__
            failure = TransientError(f"{where}: the SSH connection failed ({reason})")
        if failure is not None:
            # Raised outside the except block, so paramiko's exception does not ride along.
            client.close()
            sock.close()
            logger.info("sftp connect %s -> %s [%s]", self._address, type(failure).__name__, self)
            raise failure
        self._client, self._sftp = client, sftp
        self._posix_rename = True
        logger.info("sftp connected to %s as %s [%s]", self._address, username, self)

    def close(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        for closable in (sftp, client):
            try:
                if closable is not None:
                    closable.close()
            except Exception:  # noqa: S110 - close() never raises, whatever state it is in
                pass

    def _connected(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _session(self) -> paramiko.SFTPClient:
        """Return the SFTP session, connecting first when there is none (or it was lost)."""
        if self._sftp is None or not self._connected():
            self.open()
        assert self._sftp is not None
        return self._sftp

    def _failure(self, exc: BaseException, doing: str) -> AdapterError:
        """Return the error to raise for `exc`, raised while `doing` something."""
        lost = (
            isinstance(exc, EOFError | paramiko.SSHException | TimeoutError | ConnectionError)
            or not self._connected()
        )
        reason = self._redact(str(exc)) or type(exc).__name__
        if lost:
            self.close()
            return TransientError(
                f"{self.connection_key}: the connection to {self._address} was lost while "
                f"{doing} ({reason}); it will be tried again"
            )
        if isinstance(exc, PermissionError):
            return AdapterError(
                f"{self.connection_key}: {self._address} denied permission {doing}: ask the "
                "warehouse to grant this login access",
                permanent=True,
            )
        return AdapterError(f"{self.connection_key}: {self._address} failed {doing} ({reason})")

    def _exists(self, sftp: paramiko.SFTPClient, path: str) -> bool:
        try:
            sftp.stat(path)
        except FileNotFoundError:
            return False
        return True

    def _remote(self, folder: str, name: str | None = None) -> str:
        """Return the server path of `folder` (and `name`) under the root setting."""
        parts = checked_folder(folder, self.connection_key)
        if name is not None:
            parts += (checked_name(name, self.connection_key),)
        root = str(self.settings.get("root") or "")
        if "\x00" in root:
            raise AdapterError(
                f"{self.connection_key}: the root folder setting contains a NUL character",
                permanent=True,
            )
        return posixpath.join(root, *parts) or "."

    def _missing_folder(self, folder: str) -> AdapterError:
        return AdapterError(
            f"{self.connection_key}: the folder {self._remote(folder)!r} does not exist on "
            f"{self._address}: create it or correct the folder setting",
            permanent=True,
        )

    # -- the interface ---------------------------------------------------------------------

    def test(self) -> str:
        root = self._remote("")
        sftp = self._session()
        try:
            entries = sftp.listdir_attr(root)
        except FileNotFoundError:
            raise self._missing_folder("") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"listing {root}") from None
        folders = sorted(
            f"{entry.filename}/"
            for entry in entries
            if entry.st_mode is not None and stat.S_ISDIR(entry.st_mode)
        )
        found = ", ".join(folders) if folders else "no folders"
        return (
            f"Connected to {self._address} as {self.settings.get('username')!r}; "
            f"{root} holds {found}."
        )

    def put(self, folder: str, name: str, data: bytes) -> str:
        final = self._remote(folder, name)
        if is_temporary(name):
            raise AdapterError(
                f"{self.connection_key}: refused to upload {name!r}: readers skip names ending "
                f"in {', '.join(TEMP_SUFFIXES)}",
                permanent=True,
            )
        temp = final + UPLOAD_SUFFIX
        sftp = self._session()
        try:
            if self._exists(sftp, final):
                raise self._target_exists(final)
            # A stale .filepart from an interrupted attempt is truncated and written again.
            # confirm=True stats the temporary name, which no consumer takes, so a short write
            # is caught before the rename; the final name is never looked at after the rename
            # because the warehouse may take the file at once.
            sftp.putfo(io.BytesIO(data), temp, file_size=len(data), confirm=True)
        except FileNotFoundError:
            raise self._missing_folder(folder) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"uploading {final}") from None
        self._rename_into_place(sftp, temp, final)
        logger.info("sftp put %s (%d bytes) [%s]", final, len(data), self)
        return final

    def _target_exists(self, final: str) -> TargetExists:
        return TargetExists(
            f"{self.connection_key}: {final} already exists on {self._address} and was not "
            "overwritten; it may be this file, sent by an earlier attempt. Check the folder "
            "with the warehouse before sending it again."
        )

    def _rename_into_place(self, sftp: paramiko.SFTPClient, temp: str, final: str) -> None:
        """Rename the uploaded `temp` to `final`, which must not exist."""
        try:
            if self._posix_rename:
                try:
                    sftp.posix_rename(temp, final)
                    return
                except OSError as exc:
                    if isinstance(exc, TimeoutError | ConnectionError) or not self._connected():
                        raise
                    # Not supported here, or refused: a plain RENAME tells which.
                    logger.info("sftp %s refused posix-rename, trying RENAME [%s]", final, self)
            try:
                # Plain RENAME fails when the target exists (OpenSSH, SFTP v3): nothing is
                # overwritten, even if a file of that name appeared during the upload.
                sftp.rename(temp, final)
                self._posix_rename = False
                return
            except OSError as exc:
                if isinstance(exc, TimeoutError | ConnectionError) or not self._connected():
                    raise
                if self._exists(sftp, final):
                    self._remove_quietly(sftp, temp)
                    raise self._target_exists(final) from None
                raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"renaming {temp} to {final}") from None

    def _remove_quietly(self, sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.remove(path)
        except (OSError, EOFError, paramiko.SSHException):
            logger.info("sftp could not remove %s; the next upload overwrites it [%s]", path, self)

    def list(self, folder: str) -> list[str]:
        path = self._remote(folder)
        sftp = self._session()
        try:
            entries = sftp.listdir_attr(path)
        except FileNotFoundError:
            raise self._missing_folder(folder) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"listing {path}") from None
        found = []
        for entry in entries:
            name = entry.filename
            if name in (".", "..") or "/" in name or is_temporary(name):
                continue
            # Regular files only; a server that sends no permissions is taken at its word.
            if entry.st_mode is not None and not stat.S_ISREG(entry.st_mode):
                continue
            found.append((entry.st_mtime or 0, name))
        return [name for _, name in sorted(found)]

    def get(self, folder: str, name: str) -> bytes:
        path = self._remote(folder, name)
        sftp = self._session()
        buffer = io.BytesIO()
        try:
            sftp.getfo(path, buffer)
        except FileNotFoundError:
            raise FileVanished(
                f"{self.connection_key}: {path} was gone from {self._address} when we came to "
                "read it"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"reading {path}") from None
        logger.info("sftp get %s (%d bytes) [%s]", path, buffer.tell(), self)
        return buffer.getvalue()

    def move(self, folder: str, name: str, to_folder: str) -> str:
        source = self._remote(folder, name)
        destination = self._remote(to_folder)
        sftp = self._session()
        try:
            for candidate in free_names(name):
                target = posixpath.join(destination, candidate)
                if self._exists(sftp, target):
                    continue
                try:
                    # Plain RENAME, never posix-rename: it does not overwrite a file there.
                    sftp.rename(source, target)
                except OSError as exc:
                    if isinstance(exc, TimeoutError | ConnectionError) or not self._connected():
                        raise
                    if not self._exists(sftp, source):
                        raise FileVanished(
                            f"{self.connection_key}: {source} was gone from {self._address} "
                            "when we came to move it"
                        ) from None
                    if self._exists(sftp, target):
                        continue  # another file took that name in the meantime
                    if not self._exists(sftp, destination):
                        raise self._missing_folder(to_folder) from None
                    raise
                logger.info("sftp move %s -> %s [%s]", source, target, self)
                return target
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"moving {source} to {destination}") from None
        raise AdapterError(
            f"{self.connection_key}: could not move {source}: {destination} already holds "
            "every suffixed name for it",
            permanent=True,
        )


def _known_hosts_name(host: str, port: int) -> str:
    """Return the name paramiko looks the host key up under (known_hosts style)."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"
