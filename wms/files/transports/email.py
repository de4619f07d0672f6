"""Files as e-mail attachments: sent by SMTP, read from an IMAP mailbox.

Sending (`put`): the file is attached to one message to the connection's recipients. The
`folder` of `put` chooses the recipients and the subject:

- `folder_recipients` lines such as `in = orders@3pl.example, backup@3pl.example` send files
  for folder `in` to those addresses; folders without a line go to `to_addresses`.
- `subject_template` builds the subject; `{folder}` and `{name}` are replaced (default
  `{folder}: {name}`, so `put("in", "ord_1.csv", …)` sends "in: ord_1.csv").

`put` returns the message's Message-ID. SMTP accepts a message whole or not at all, so there
is no temporary name; a connection lost after the server accepted but before it said so can
send a file twice, which the warehouse's duplicate check must absorb.

Reading (`list`, `get`, `move`) always uses the IMAP mailbox of the `mailbox` setting: the
`folder` argument is not used, because a mailbox has no folders per file type. Unseen
messages are read with BODY.PEEK (reading does not mark them seen), oldest UID first, at most
MAX_MESSAGES_PER_LIST per call. Only messages whose From is in `allowed_senders` (when set)
and whose subject starts with `subject_prefix` (when set) count. Each attachment is listed as
`<uid>-<sanitised file name>`; `move(…, to_folder)` marks it processed. When the last
attachment of a message is processed, the message gets \\Seen and the `$CartroverProcessed`
keyword and is moved to the IMAP mailbox `to_folder` (UID MOVE, or UID COPY plus \\Deleted and,
with UIDPLUS, UID EXPUNGE; the mailbox is created when missing); a server that can do
neither leaves it flagged, which is enough for it never to be listed again. Attachments
processed before the last one are remembered with `$CartroverDone<n>` keywords (and in memory
when the server does not store keywords).

A message someone opened in a mail client before the hub read it is \\Seen and so skipped: use
a mailbox only the hub reads.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import logging
import mimetypes
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from cartrover.adapters import AdapterError, AuthError, FieldSpec, TransientError
from wms.files.transports.base import (
    FileVanished,
    HostKeyMismatch,
    Transport,
    open_checked_socket,
)
from wms.files.transports.local import checked_name

logger = logging.getLogger("wms.files.transports")

DEFAULT_TIMEOUT = 30
MAX_MESSAGES_PER_LIST = 200
# Unseen messages whose headers are fetched in one command while looking for accepted ones.
HEADER_BATCH = 100
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_FILENAME_LENGTH = 150
PROCESSED_KEYWORD = "$CartroverProcessed"
DONE_KEYWORD = "$CartroverDone"  # + the attachment's number in its message

_SAFE_CHARACTER = re.compile(r"[^A-Za-z0-9._ -]")
_NAME = re.compile(r"(\d+)-(.+)")
_FETCH_START = re.compile(rb"^\d+ \(")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


# --- sockets through the destination checks -------------------------------------------------


# Each opens its socket with `open_checked_socket` (transports/base.py): only to addresses that pass
# `cartrover.http.checked_addresses`, with a timeout; refused or unreachable servers raise
# BlockedDestination or TransientError prefixed with `where` (the connection key).


class _CheckedSMTP(smtplib.SMTP):
    where = "email"

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return open_checked_socket(host, port, self.where, timeout)


class _CheckedSMTPSSL(smtplib.SMTP_SSL):
    where = "email"

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = open_checked_socket(host, port, self.where, timeout)
        return self.context.wrap_socket(sock, server_hostname=host)


class _CheckedIMAP4(imaplib.IMAP4):
    def __init__(self, host: str, port: int, *, where: str, timeout: float) -> None:
        self.where = where
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return open_checked_socket(self.host, self.port, self.where, timeout or DEFAULT_TIMEOUT)


class _CheckedIMAP4SSL(imaplib.IMAP4_SSL):
    def __init__(
        self, host: str, port: int, *, where: str, ssl_context: ssl.SSLContext, timeout: float
    ) -> None:
        self.where = where
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = open_checked_socket(self.host, self.port, self.where, timeout or DEFAULT_TIMEOUT)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


# --- what a message holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """One attachment of a message: its number there, listed name and content."""

    number: int
    name: str
    data: bytes


# Spelled out here because inside the transport `list` is the method of that name.
Attachments = list[Attachment]


def safe_filename(raw: str, fallback: str) -> str:
    """Return `raw` as a plain file name: no folders, no leading dots, safe characters only."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_CHARACTER.sub("_", name).strip(" .")
    if not name.strip("_"):
        return fallback
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name


def attachments_of(message: Message) -> list[Attachment]:
    """Return the parts of `message` that carry a file name, each with a unique safe name."""
    found: list[Attachment] = []
    used: set[str] = set()
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if not filename:
            continue
        number = len(found) + 1
        name = safe_filename(filename, f"attachment-{number}")
        if name in used:
            stem, dot, extension = name.rpartition(".")
            name = f"{stem}-{number}.{extension}" if dot and stem else f"{name}-{number}"
        used.add(name)
        payload = part.get_payload(decode=True)
        found.append(Attachment(number, name, payload if isinstance(payload, bytes) else b""))
    return found


def _split_addresses(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return [part.strip() for part in re.split(r"[,;\s]+", str(value or "")) if part.strip()]


def _imap_quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _Fetched:
    uid: int
    flags: set[str]
    size: int = 0
    data: bytes | None = None


def _parse_fetch(data: list[Any]) -> dict[int, _Fetched]:
    """Return what an imaplib UID FETCH answered, per UID; items may follow a literal."""
    result: dict[int, _Fetched] = {}
    current: _Fetched | None = None
    for item in data:
        literal = None
        if isinstance(item, tuple):
            head, literal = item[0], item[1]
        elif isinstance(item, bytes):
            head = item
        else:
            continue
        if _FETCH_START.match(head):
            uid = _FETCH_UID.search(head)
            if uid is None:
                current = None
                continue
            current = result.setdefault(int(uid.group(1)), _Fetched(int(uid.group(1)), set()))
        if current is None:
            continue
        flags = _FETCH_FLAGS.search(head)
        if flags is not None:
            current.flags = set(flags.group(1).decode("utf-8", "replace").split())
        size = _FETCH_SIZE.search(head)
        if size is not None:
            current.size = int(size.group(1))
        if literal is not None:
            current.data = literal
    return result


# --- the transport ---------------------------------------------------------------------------


class EmailTransport(Transport):
    """Send files as attachments by SMTP and read attachments from IMAP; see the module doc."""

    kind = "email"
    label = "E-mail (SMTP / IMAP)"
    credential_fields = [
        FieldSpec("smtp_password", "SMTP password", type="password", secret=True),
        FieldSpec("imap_password", "IMAP password", type="password", secret=True),
    ]
    settings_fields = [
        FieldSpec("smtp_host", "SMTP server", help="Leave empty if files only arrive by mail."),
        FieldSpec("smtp_port", "SMTP port", type="int", default=587),
        FieldSpec(
            "smtp_security",
            "SMTP encryption",
            type="choice",
            default="starttls",
            choices=(
                ("starttls", "STARTTLS (port 587)"),
                ("ssl", "TLS from the start (port 465)"),
                ("none", "None: password and files sent unencrypted"),
            ),
        ),
        FieldSpec("smtp_username", "SMTP username", help="Empty to send without logging in."),
        FieldSpec("from_address", "From address"),
        FieldSpec("to_addresses", "To addresses", help="Comma-separated; files for any folder."),
        FieldSpec(
            "folder_recipients",
            "Recipients per folder",
            type="textarea",
            default="",
            help="One line per folder, e.g. `in = orders@3pl.example`; overrides To.",
        ),
        FieldSpec(
            "subject_template",
            "Subject",
            default="{folder}: {name}",
            help="{folder} and {name} are replaced by the folder and the file name.",
        ),
        FieldSpec("imap_host", "IMAP server", help="Leave empty if files are only sent."),
        FieldSpec("imap_port", "IMAP port", type="int", default=993),
        FieldSpec(
            "imap_security",
            "IMAP encryption",
            type="choice",
            default="ssl",
            choices=(
                ("ssl", "TLS from the start (port 993)"),
                ("starttls", "STARTTLS (port 143)"),
                ("none", "None: password and files sent unencrypted"),
            ),
        ),
        FieldSpec("imap_username", "IMAP username"),
        FieldSpec("mailbox", "Mailbox", default="INBOX", help="Where the warehouse's mail lands."),
        FieldSpec(
            "allowed_senders",
            "Allowed senders",
            type="textarea",
            default="",
            help="Addresses or @domains, comma or line separated; empty accepts any sender.",
        ),
        FieldSpec(
            "subject_prefix",
            "Subject prefix",
            default="",
            help="Only messages whose subject starts with this (any case) are read.",
        ),
        FieldSpec(
            "ca_certificate",
            "Trusted certificate",
            type="textarea",
            default="",
            help="PEM certificate (or private CA) to trust instead of the public CAs.",
        ),
        FieldSpec("timeout", "Timeout (seconds)", type="int", default=DEFAULT_TIMEOUT),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._imap: imaplib.IMAP4 | None = None
        self._uidvalidity = ""
        self._keywords = False
        self._capabilities: set[str] = set()
        # Attachments processed in this session, for servers that do not store keywords.
        self._done: dict[int, set[int]] = {}

    # -- common ------------------------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        timeout = float(self.settings["timeout"] or DEFAULT_TIMEOUT)
        return timeout if timeout > 0 else DEFAULT_TIMEOUT

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

    def _redact(self, text: str) -> str:
        for name in ("smtp_password", "imap_password"):
            secret = str(self.credentials.get(name) or "")
            if secret:
                text = text.replace(secret, "***")
        return text

    def _require(self, name: str, label: str) -> str:
        value = str(self.settings.get(name) or "").strip()
        if not value:
            raise AdapterError(
                f"{self.connection_key}: no {label} is set up for this e-mail connection",
                permanent=True,
            )
        return value

    def open(self) -> None:
        """Log in to the IMAP mailbox when one is set up; SMTP connects for each file sent."""
        if str(self.settings["imap_host"] or "").strip():
            self._mailbox()

    def close(self) -> None:
        """Log out of IMAP; never raises."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except Exception:
            try:
                imap.shutdown()
            except Exception:
                logger.debug("%s: IMAP shutdown failed", self.connection_key)

    def test(self) -> str:
        """Check the SMTP login and the IMAP mailbox that are set up; say what was found."""
        found = []
        if str(self.settings["smtp_host"] or "").strip():
            smtp = self._smtp()
            try:
                with self._smtp_failures("check the SMTP connection"):
                    smtp.noop()
            finally:
                self._quit(smtp)
            found.append(f"SMTP {self.settings['smtp_host']} accepted the login")
        if str(self.settings["imap_host"] or "").strip():
            imap = self._mailbox()
            with self._imap_failures("search the mailbox"):
                unseen = self._search(imap)
            found.append(
                f"IMAP mailbox {self.settings['mailbox']} has {len(unseen)} unread message(s)"
            )
        if not found:
            return "Neither an SMTP nor an IMAP server is set up."
        return "; ".join(found) + "."

    # -- sending -----------------------------------------------------------------------------

    def put(self, folder: str, name: str, data: bytes) -> str:
        """Send `data` as attachment `name` to the folder's recipients; return the Message-ID."""
        checked_name(name, self.connection_key)
        if any(ord(character) < 32 for character in name):
            raise AdapterError(
                f"{self.connection_key}: refused the file name {name!r}: it contains a "
                "control character",
                permanent=True,
            )
        sender = self._require("from_address", "From address")
        recipients = self._recipients(folder)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = self._subject(folder, name)
        message["Date"] = formatdate(usegmt=True)
        domain = sender.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(idstring="cartrover", domain=domain)
        message.set_content(f"{name} is attached ({len(data)} bytes).\n")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        smtp = self._smtp()
        try:
            with self._smtp_failures(f"send {name} to {', '.join(recipients)}"):
                smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        finally:
            self._quit(smtp)
        logger.info(
            "%s: sent %s (%d bytes) to %s",
            self.connection_key,
            name,
            len(data),
            ", ".join(recipients),
        )
        return str(message["Message-ID"])

    def _recipients(self, folder: str) -> list[str]:
        per_folder: dict[str, list[str]] = {}
        for line in str(self.settings["folder_recipients"] or "").splitlines():
            key, separator, addresses = line.partition("=")
            if separator and key.strip():
                per_folder[key.strip().strip("/")] = _split_addresses(addresses)
        recipients = per_folder.get(folder.strip().strip("/")) or _split_addresses(
            self.settings["to_addresses"]
        )
        if not recipients:
            raise AdapterError(
                f"{self.connection_key}: no recipient is set up for folder {folder!r}; "
                "fill in To addresses or a line for it in Recipients per folder",
                permanent=True,
            )
        return recipients

    def _subject(self, folder: str, name: str) -> str:
        template = str(self.settings["subject_template"] or "{folder}: {name}")
        subject = template.replace("{folder}", folder).replace("{name}", name)
        # Line breaks would start new headers.
        return " ".join(subject.split())

    def _smtp(self) -> smtplib.SMTP:
        """Connect, secure and log in to the SMTP server."""
        host = self._require("smtp_host", "SMTP server")
        port = int(self.settings["smtp_port"] or 587)
        security = str(self.settings["smtp_security"] or "starttls")
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = _CheckedSMTPSSL(timeout=self._timeout, context=self._tls_context())
        else:
            smtp = _CheckedSMTP(timeout=self._timeout)
        smtp.where = self.connection_key
        try:
            with self._smtp_failures(f"connect to {host}:{port}"):
                smtp.connect(host, port)
                smtp.ehlo()
                if security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
            username = str(self.settings["smtp_username"] or "")
            if username:
                with self._smtp_failures(f"log in to {host} as {username!r}"):
                    smtp.login(username, str(self.credentials["smtp_password"] or ""))
        except AdapterError:
            smtp.close()
            raise
        return smtp

    def _quit(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    @contextmanager
    def _smtp_failures(self, doing: str) -> Iterator[None]:
        """Turn smtplib and socket failures while `doing` into the typed adapter errors."""
        failure: AdapterError | None = None
        key = self.connection_key
        try:
            yield
        except AdapterError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            failure = AuthError(
                f"{key}: the SMTP server refused to {doing} ({self._reply(exc)}); "
                "check the SMTP username and password"
            )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            refused = ", ".join(exc.recipients)
            message = f"{key}: the SMTP server refused the recipients {refused} ({codes})"
            if all(code >= 500 for code in codes):
                failure = AdapterError(message + "; correct the addresses", permanent=True)
            else:
                failure = TransientError(message)
        except smtplib.SMTPResponseException as exc:
            text = f"{key}: the SMTP server could not {doing}: {self._reply(exc)}"
            if exc.smtp_code >= 500:
                failure = AdapterError(text, permanent=True)
            else:
                failure = TransientError(text)
        except smtplib.SMTPNotSupportedError as exc:
            failure = AdapterError(
                f"{key}: the SMTP server does not support what is needed to {doing} "
                f"({self._redact(str(exc))}); check the encryption setting",
                permanent=True,
            )
        except ssl.SSLCertVerificationError as exc:
            failure = HostKeyMismatch(
                f"{key}: the TLS certificate of the SMTP server could not be verified "
                f"({exc.verify_message}); check it and update the trusted certificate"
            )
        except TimeoutError:
            failure = TransientError(f"{key}: the SMTP server did not answer in time to {doing}")
        except (OSError, smtplib.SMTPException) as exc:
            failure = TransientError(
                f"{key}: the connection to the SMTP server failed while trying to {doing} "
                f"({type(exc).__name__}: {self._redact(str(exc)) or 'closed'})"
            )
        if failure is not None:
            logger.info("%s", failure.message)
            raise failure

    def _reply(self, exc: smtplib.SMTPResponseException) -> str:
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {self._redact(text)}"

    # -- reading -----------------------------------------------------------------------------

    def _mailbox(self) -> imaplib.IMAP4:
        """Return the IMAP connection with the mailbox selected, connecting when needed."""
        if self._imap is not None:
            return self._imap
        host = self._require("imap_host", "IMAP server")
        port = int(self.settings["imap_port"] or 993)
        security = str(self.settings["imap_security"] or "ssl")
        mailbox = str(self.settings["mailbox"] or "INBOX")
        imap: imaplib.IMAP4 | None = None
        try:
            with self._imap_failures(f"connect to {host}:{port}"):
                if security == "ssl":
                    imap = _CheckedIMAP4SSL(
                        host,
                        port,
                        where=self.connection_key,
                        ssl_context=self._tls_context(),
                        timeout=self._timeout,
                    )
                else:
                    imap = _CheckedIMAP4(
                        host, port, where=self.connection_key, timeout=self._timeout
                    )
                    if security == "starttls":
                        imap.starttls(ssl_context=self._tls_context())
            username = str(self.settings["imap_username"] or "")
            with self._imap_failures(f"log in as {username!r}", login=True):
                imap.login(username, str(self.credentials["imap_password"] or ""))
            with self._imap_failures(f"open the mailbox {mailbox!r}"):
                typ, data = imap.capability()
                words = b" ".join(d for d in data if isinstance(d, bytes)).decode().upper()
                self._capabilities = set(words.split())
                typ, data = imap.select(_imap_quote(mailbox))
                if typ != "OK":
                    raise AdapterError(
                        f"{self.connection_key}: the IMAP mailbox {mailbox!r} could not be "
                        f"opened ({self._text(data)}); check the mailbox name",
                        permanent=True,
                    )
                _, flags = imap.response("PERMANENTFLAGS")
                self._keywords = any(b"\\*" in f for f in flags if isinstance(f, bytes))
                _, validity = imap.response("UIDVALIDITY")
                current = self._text(validity)
        except AdapterError:
            if imap is not None:
                with suppress(OSError):
                    imap.shutdown()
            raise
        if self._uidvalidity and current != self._uidvalidity:
            # UIDs listed before now name other messages: forget everything about them.
            self._done.clear()
        self._uidvalidity = current
        self._imap = imap
        logger.info("%s: opened IMAP mailbox %s on %s", self.connection_key, mailbox, host)
        return imap

    def _text(self, data: Any) -> str:
        parts = data if isinstance(data, list | tuple) else [data]
        text = " ".join(
            p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p)
            for p in parts
            if p is not None
        )
        return self._redact(text)

    @contextmanager
    def _imap_failures(self, doing: str, *, login: bool = False) -> Iterator[None]:
        """Turn imaplib and socket failures while `doing` into the typed adapter errors."""
        failure: AdapterError | None = None
        key = self.connection_key
        try:
            yield
        except AdapterError:
            raise
        except imaplib.IMAP4.abort as exc:
            self._drop()
            failure = TransientError(
                f"{key}: the IMAP connection broke while trying to {doing} "
                f"({self._redact(str(exc))})"
            )
        except imaplib.IMAP4.error as exc:
            if login:
                failure = AuthError(
                    f"{key}: the IMAP server refused to {doing} ({self._redact(str(exc))}); "
                    "check the IMAP username and password"
                )
            else:
                failure = AdapterError(
                    f"{key}: the IMAP server refused to {doing}: {self._redact(str(exc))}",
                    permanent=True,
                )
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            failure = HostKeyMismatch(
                f"{key}: the TLS certificate of the IMAP server could not be verified "
                f"({exc.verify_message}); check it and update the trusted certificate"
            )
        except TimeoutError:
            self._drop()
            failure = TransientError(f"{key}: the IMAP server did not answer in time to {doing}")
        except (OSError, EOFError) as exc:
            self._drop()
            failure = TransientError(
                f"{key}: the connection to the IMAP server failed while trying to {doing} "
                f"({type(exc).__name__}: {self._redact(str(exc)) or 'closed'})"
            )
        except UnicodeError:
            failure = AdapterError(
                f"{key}: could not {doing}: IMAP names and passwords must be ASCII here",
                permanent=True,
            )
        if failure is not None:
            logger.info("%s", failure.message)
            raise failure

    def _drop(self) -> None:
        """Forget a connection in an unknown state; the next operation connects again."""
        imap, self._imap = self._imap, None
        if imap is not None:
            with suppress(OSError):
                imap.shutdown()

    def _search(self, imap: imaplib.IMAP4) -> list[int]:
        typ, data = imap.uid("SEARCH", "UNSEEN")
        if typ != "OK":
            raise AdapterError(
                f"{self.connection_key}: the IMAP search failed ({self._text(data)})",
                permanent=True,
            )
        return sorted({int(uid) for uid in self._text(data).split() if uid.isdigit()})

    def _fetch(self, imap: imaplib.IMAP4, uids: list[int], items: str) -> dict[int, _Fetched]:
        typ, data = imap.uid("FETCH", ",".join(str(uid) for uid in uids), items)
        if typ != "OK":
            raise AdapterError(
                f"{self.connection_key}: the IMAP server would not send messages "
                f"({self._text(data)})",
                permanent=True,
            )
        return _parse_fetch(data)

    def _accepts(self, uid: int, message: Message) -> bool:
        """Return whether the sender and subject filters let `message` through."""
        try:
            senders = getaddresses([str(v) for v in message.get_all("From", [])])
            subject = str(message.get("Subject", "") or "")
        except (ValueError, TypeError, IndexError):
            logger.info("%s: message %s has unreadable headers; skipped", self.connection_key, uid)
            return False
        allowed = [entry.lower() for entry in _split_addresses(self.settings["allowed_senders"])]
        if allowed:
            addresses = [address.lower() for _, address in senders if address]
            if len(addresses) != 1 or not _sender_allowed(addresses[0], allowed):
                logger.info(
                    "%s: message %s from %s is not from an allowed sender; skipped",
                    self.connection_key,
                    uid,
                    ", ".join(addresses) or "nobody",
                )
                return False
        prefix = str(self.settings["subject_prefix"] or "").strip().lower()
        return not prefix or subject.strip().lower().startswith(prefix)

    def _pending(self, fetched: _Fetched, attachments: list[Attachment]) -> list[Attachment]:
        done = self._done.get(fetched.uid, set())
        return [
            a
            for a in attachments
            if a.number not in done and f"{DONE_KEYWORD}{a.number}" not in fetched.flags
        ]

    def list(self, folder: str) -> list[str]:
        """Return `<uid>-<file name>` for attachments of unseen, accepted messages, oldest first.

        `folder` is not used: the `mailbox` setting is read.
        """
        imap = self._mailbox()
        names: list[str] = []
        accepted = 0
        with self._imap_failures("list new messages"):
            uids = self._search(imap)
            # Headers first, in batches: mail from other senders is never downloaded whole, and
            # however much of it waits unread, it cannot hide newer accepted messages.
            for start in range(0, len(uids), HEADER_BATCH):
                batch = uids[start : start + HEADER_BATCH]
                headers = self._fetch(imap, batch, "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])")
                for uid in batch:
                    if accepted >= MAX_MESSAGES_PER_LIST:
                        return names
                    info = headers.get(uid)
                    if info is None or not self._wanted(info):
                        continue
                    accepted += 1
                    fetched = self._fetch(imap, [uid], "(UID FLAGS BODY.PEEK[])").get(uid)
                    if fetched is None or fetched.data is None:
                        continue
                    message = email.message_from_bytes(fetched.data, policy=email.policy.default)
                    for attachment in self._pending(fetched, attachments_of(message)):
                        names.append(f"{uid}-{attachment.name}")
        return names

    def _wanted(self, info: _Fetched) -> bool:
        """Return whether a message (flags, size and headers fetched) is one to read."""
        if PROCESSED_KEYWORD in info.flags or info.data is None:
            return False
        if info.size > MAX_MESSAGE_BYTES:
            logger.warning(
                "%s: message %s is larger than %d bytes; skipped",
                self.connection_key,
                info.uid,
                MAX_MESSAGE_BYTES,
            )
            return False
        headers = email.message_from_bytes(info.data, policy=email.policy.default)
        return self._accepts(info.uid, headers)

    def _attachment(self, name: str) -> tuple[int, _Fetched, Attachments, Attachment]:
        """Fetch the message behind a listed name; raise FileVanished when it is gone."""
        match = _NAME.fullmatch(name)
        if match is None:
            raise AdapterError(
                f"{self.connection_key}: {name!r} is not a name this mailbox listed",
                permanent=True,
            )
        uid = int(match.group(1))
        imap = self._mailbox()
        with self._imap_failures(f"read message {uid}"):
            fetched = self._fetch(imap, [uid], "(UID FLAGS BODY.PEEK[])").get(uid)
        if fetched is None or fetched.data is None or PROCESSED_KEYWORD in fetched.flags:
            raise FileVanished(
                f"{self.connection_key}: message {uid} holding {match.group(2)} is no longer "
                f"in the mailbox {self.settings['mailbox']!r}; another consumer probably took it"
            )
        message = email.message_from_bytes(fetched.data, policy=email.policy.default)
        attachments = attachments_of(message)
        for attachment in self._pending(fetched, attachments):
            if attachment.name == match.group(2):
                return uid, fetched, attachments, attachment
        raise FileVanished(
            f"{self.connection_key}: message {uid} no longer holds an unprocessed {match.group(2)}"
        )

    def get(self, folder: str, name: str) -> bytes:
        """Return the attachment a listed name stands for."""
        return self._attachment(name)[3].data

    def move(self, folder: str, name: str, to_folder: str) -> str:
        """Mark an attachment processed; move its message to `to_folder` once all are.

        Return `<to_folder>/<name>`, or `<mailbox>/<name>` while the message stays.
        """
        uid, fetched, attachments, attachment = self._attachment(name)
        imap = self._mailbox()
        mailbox = str(self.settings["mailbox"] or "INBOX")
        self._done.setdefault(uid, set()).add(attachment.number)
        remaining = [a for a in self._pending(fetched, attachments) if a is not attachment]
        with self._imap_failures(f"mark message {uid} processed"):
            if remaining:
                if self._keywords:
                    self._store(imap, uid, f"{DONE_KEYWORD}{attachment.number}")
                return f"{mailbox}/{name}"
            flags = "\\Seen" + (f" {PROCESSED_KEYWORD}" if self._keywords else "")
            self._store(imap, uid, flags)
            target = to_folder.strip().strip("/")
            if not target or target == mailbox:
                return f"{mailbox}/{name}"
            if self._transfer(imap, uid, target):
                self._done.pop(uid, None)
                logger.info("%s: moved message %s to %s", self.connection_key, uid, target)
                return f"{target}/{name}"
        return f"{mailbox}/{name}"

    def _store(self, imap: imaplib.IMAP4, uid: int, flags: str) -> None:
        typ, data = imap.uid("STORE", str(uid), "+FLAGS.SILENT", f"({flags})")
        if typ != "OK":
            raise AdapterError(
                f"{self.connection_key}: the IMAP server would not flag message {uid} "
                f"({self._text(data)})",
                permanent=True,
            )

    def _transfer(self, imap: imaplib.IMAP4, uid: int, target: str) -> bool:
        """Move message `uid` into `target`, creating it once if missing; False if impossible."""
        quoted = _imap_quote(target)
        command = "MOVE" if "MOVE" in self._capabilities else "COPY"
        typ, data = imap.uid(command, str(uid), quoted)
        if typ != "OK" and "TRYCREATE" in self._text(data).upper():
            imap.create(quoted)
            typ, data = imap.uid(command, str(uid), quoted)
        if typ != "OK":
            logger.warning(
                "%s: could not %s message %s to %s (%s); it stays flagged as processed",
                self.connection_key,
                command,
                uid,
                target,
                self._text(data),
            )
            return False
        if command == "COPY":
            self._store(imap, uid, "\\Deleted")
            if "UIDPLUS" in self._capabilities:
                imap.uid("EXPUNGE", str(uid))
        return True


def _sender_allowed(address: str, allowed: list[str]) -> bool:
    """Return whether `address` is listed, or its domain is (as `@domain` or `domain`)."""
    domain = address.rpartition("@")[2]
    for entry in allowed:
        if "@" in entry and not entry.startswith("@"):
            if address == entry:
                return True
        elif domain == entry.lstrip("@"):
            return True
    return False
