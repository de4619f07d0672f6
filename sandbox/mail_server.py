"""A warehouse's mail: an SMTP sink and a small IMAP4rev1 server over in-memory folders.

`SmtpSink` (aiosmtpd) stores every message it receives and, given an `ImapEmulator`, also
delivers it there, so a test can send with one transport and read with another. `ImapEmulator`
speaks enough IMAP4rev1 for imaplib: CAPABILITY, LOGIN, SELECT/EXAMINE, CREATE, LIST,
UID SEARCH, UID FETCH (UID, FLAGS, RFC822, RFC822.SIZE, BODY[], BODY[HEADER] and their PEEK
forms), UID STORE, UID COPY, UID MOVE (switchable), UID EXPUNGE, EXPUNGE, CLOSE,
NOOP and LOGOUT; tests put messages in with `deliver()`. Plain TCP only: no TLS.

Run standalone: `python -m sandbox.mail_server` prints both ports and the login.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import itertools
import re
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
LINE_LIMIT = 64 * 1024
LITERAL_LIMIT = 32 * 1024 * 1024


# --- SMTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP sink accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """Return the message parsed with the modern email API."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _PortZeroController(Controller):
    """aiosmtpd's Controller, able to bind port 0 and report the port it got."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """An SMTP server that accepts mail and keeps it in `received`.

    With `username`/`password` it requires AUTH (PLAIN or LOGIN, allowed without TLS here).
    With `deliver_to`, each accepted message is also delivered to that IMAP emulator's INBOX.
    """

    name = "smtp"

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        deliver_to: ImapEmulator | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.deliver_to = deliver_to
        self.lock = threading.RLock()
        self.received: list[ReceivedMail] = []
        self.host = ""
        self.port = 0
        self._fail_remaining = 0
        self._fail_reply = ""
        self._controller: _PortZeroController | None = None

    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the DATA of the next `count` messages with `reply` instead of accepting."""
        with self.lock:
            self._fail_remaining = count
            self._fail_reply = reply

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        """Refuse senders that did not log in when a login is set (aiosmtpd handler hook).

        Checked here rather than with aiosmtpd's `auth_required`, which warns on every
        connection when AUTH is allowed without TLS, as it is on purpose in this sandbox.
        """
        if self.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the message (aiosmtpd handler hook)."""
        with self.lock:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                return self._fail_reply
            data = envelope.original_content or envelope.content
            if isinstance(data, str):
                data = data.encode("utf-8")
            mail = ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(data))
            self.received.append(mail)
        if self.deliver_to is not None:
            self.deliver_to.deliver(mail.data)
        return "250 2.0.0 Message accepted"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (
            auth_data.login.decode("utf-8", "replace") == self.username
            and auth_data.password.decode("utf-8", "replace") == self.password
        )
        return AuthResult(success=ok, handled=False)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve on `host`:`port` (0 picks a free port) in a daemon thread; return both."""
        if self._controller is not None:
            return self.host, self.port
        auth = self.username is not None
        controller = _PortZeroController(
            self,
            hostname=host,
            port=port,
            authenticator=self._authenticate if auth else None,
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller
        self.host, self.port = host, controller.port
        return self.host, self.port

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- IMAP -----------------------------------------------------------------------------------


@dataclass
class StoredMessage:
    """A message in a folder: its UID there, its flags and its bytes."""

    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)

    @property
    def message(self) -> Message:
        """Return the message parsed."""
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Folder:
    """One mailbox: messages in order, UIDs that only ever grow."""

    uidvalidity: int
    uidnext: int = 1
    messages: list[StoredMessage] = field(default_factory=list)


class ImapError(Exception):
    """A command the emulator answers with NO or BAD."""

    def __init__(self, status: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


_validity = itertools.count(int(time.time()))


class ImapEmulator:
    """An IMAP4rev1 server for one login over in-memory folders; see the module docstring.

    `supports_move=False` leaves MOVE out of CAPABILITY (clients must COPY and expunge);
    `keywords=False` stops the server storing keywords such as `$Processed`.
    """

    name = "imap"

    def __init__(
        self,
        username: str = "warehouse",
        password: str = "sandbox-imap-password",  # noqa: S107 - the sandbox's published login
        *,
        supports_move: bool = True,
        keywords: bool = True,
    ) -> None:
        self.username = username
        self.password = password
        self.supports_move = supports_move
        self.keywords = keywords
        self.lock = threading.RLock()
        self.folders: dict[str, Folder] = {"INBOX": Folder(next(_validity))}
        self.commands: list[str] = []
        self.host = ""
        self.port = 0
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests use ----------------------------------------------------------------------

    def deliver(
        self, message: bytes | Message, folder: str = "INBOX", flags: tuple[str, ...] = ()
    ) -> int:
        """Append a message to `folder` (created if missing); return its UID."""
        data = message if isinstance(message, bytes) else message.as_bytes()
        with self.lock:
            box = self._folder(folder, create=True)
            stored = StoredMessage(box.uidnext, data, set(flags))
            box.uidnext += 1
            box.messages.append(stored)
            return stored.uid

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        """Return copies of the messages in `folder` (none if it does not exist)."""
        with self.lock:
            box = self.folders.get(_folder_key(folder))
            if box is None:
                return []
            return [StoredMessage(m.uid, m.data, set(m.flags)) for m in box.messages]

    def capabilities(self) -> list[str]:
        """Return what CAPABILITY announces."""
        caps = ["IMAP4rev1", "UIDPLUS", "LITERAL+"]
        if self.supports_move:
            caps.append("MOVE")
        return caps

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve on `host`:`port` (0 picks a free port) in a daemon thread; return both."""
        if self._server is not None:
            return self.host, self.port
        emulator = self

        class Handler(_ImapSession):
            imap = emulator

        server = socketserver.ThreadingTCPServer((host, port), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        address = server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self.host, self.port

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- folder helpers (call with the lock held) --------------------------------------------

    def _folder(self, name: str, *, create: bool = False) -> Folder:
        key = _folder_key(name)
        box = self.folders.get(key)
        if box is None:
            if not create:
                raise ImapError("NO", f"[TRYCREATE] No such mailbox {name}")
            box = self.folders[key] = Folder(next(_validity))
        return box

    def _storable(self, flags: list[str]) -> set[str]:
        if self.keywords:
            return set(flags)
        return {flag for flag in flags if flag in SYSTEM_FLAGS}


def _folder_key(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


class _ImapSession(socketserver.StreamRequestHandler):
    """One client connection: reads tagged commands and answers them."""

    imap: ImapEmulator
    timeout = 60

    def setup(self) -> None:
        super().setup()
        # Answers go out line by line: without this, Nagle and delayed ACKs add ~40 ms to each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.authenticated = False
        self.selected: str | None = None
        self.readonly = False

    def handle(self) -> None:
        self.send(f"* OK [CAPABILITY {' '.join(self.imap.capabilities())}] sandbox IMAP ready")
        while True:
            try:
                tokens = self.read_command()
            except (OSError, ValueError):
                return
            if tokens is None:
                return
            if len(tokens) < 2 or not isinstance(tokens[0], str):
                self.send("* BAD Missing command")
                continue
            tag, command, args = tokens[0], str(tokens[1]).upper(), tokens[2:]
            with self.imap.lock:
                self.imap.commands.append(command if command != "UID" else f"UID {args[0]}")
            try:
                status, text = self.dispatch(command, args)
            except ImapError as exc:
                status, text = exc.status, exc.text
            except (IndexError, KeyError, TypeError, ValueError):
                status, text = "BAD", "Invalid arguments"
            self.send(f"{tag} {status} {text}")
            if command == "LOGOUT":
                return

    # -- wire --------------------------------------------------------------------------------

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode("utf-8")
        self.wfile.write(data + b"\r\n")
        self.wfile.flush()

    def read_command(self) -> list[Any] | None:
        """Read one command, literals included; return its parsed tokens or None at EOF."""
        buffer = b""
        while True:
            line = self.rfile.readline(LINE_LIMIT + 1)
            if not line:
                return None
            if len(line) > LINE_LIMIT:
                raise ValueError("line too long")
            buffer += line
            literal = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
            if literal is None:
                return _parse(buffer.rstrip(b"\r\n"))
            size = int(literal.group(1))
            if size > LITERAL_LIMIT:
                raise ValueError("literal too large")
            if not literal.group(2):
                self.send("+ Ready for literal data")
            buffer += self.rfile.read(size)

    # -- commands ----------------------------------------------------------------------------

    def dispatch(self, command: str, args: list[Any]) -> tuple[str, str]:
        if command == "CAPABILITY":
            self.send(f"* CAPABILITY {' '.join(self.imap.capabilities())}")
            return "OK", "CAPABILITY completed"
        if command == "NOOP":
            return "OK", "NOOP completed"
        if command == "LOGOUT":
            self.send("* BYE sandbox IMAP logging out")
            return "OK", "LOGOUT completed"
        if command == "LOGIN":
            if _text(args[0]) == self.imap.username and _text(args[1]) == self.imap.password:
                self.authenticated = True
                return "OK", "LOGIN completed"
            return "NO", "[AUTHENTICATIONFAILED] Invalid credentials"
        if not self.authenticated:
            return "BAD", "Log in first"
        if command in ("SELECT", "EXAMINE"):
            return self.select(_text(args[0]), readonly=command == "EXAMINE")
        if command == "CREATE":
            with self.imap.lock:
                if _folder_key(_text(args[0])) in self.imap.folders:
                    return "NO", "[ALREADYEXISTS] Mailbox exists"
                self.imap._folder(_text(args[0]), create=True)
            return "OK", "CREATE completed"
        if command == "LIST":
            with self.imap.lock:
                for name in sorted(self.imap.folders):
                    self.send(f'* LIST (\\HasNoChildren) "/" {_quote(name)}')
            return "OK", "LIST completed"
        if self.selected is None:
            return "BAD", "Select a mailbox first"
        if command == "UID":
            return self.uid_command(str(args[0]).upper(), args[1:])
        if command == "EXPUNGE":
            self.expunge(None)
            return "OK", "EXPUNGE completed"
        if command == "CLOSE":
            if not self.readonly:
                self.expunge(None, silent=True)
            self.selected = None
            return "OK", "CLOSE completed"
        return "BAD", f"Unsupported command {command}"

    def select(self, name: str, *, readonly: bool) -> tuple[str, str]:
        with self.imap.lock:
            box = self.imap.folders.get(_folder_key(name))
            if box is None:
                self.selected = None
                return "NO", "[NONEXISTENT] No such mailbox"
            unseen = [i for i, m in enumerate(box.messages, 1) if "\\Seen" not in m.flags]
            self.send(f"* {len(box.messages)} EXISTS")
            self.send("* 0 RECENT")
            self.send(f"* FLAGS ({' '.join(SYSTEM_FLAGS)})")
            permanent = " ".join(SYSTEM_FLAGS) + (" \\*" if self.imap.keywords else "")
            self.send(f"* OK [PERMANENTFLAGS ({permanent})] Flags permitted")
            if unseen:
                self.send(f"* OK [UNSEEN {unseen[0]}] First unseen")
            self.send(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid")
            self.send(f"* OK [UIDNEXT {box.uidnext}] Predicted next UID")
            self.selected = _folder_key(name)
            self.readonly = readonly
        mode = "READ-ONLY" if readonly else "READ-WRITE"
        return "OK", f"[{mode}] {'EXAMINE' if readonly else 'SELECT'} completed"

    def uid_command(self, command: str, args: list[Any]) -> tuple[str, str]:
        with self.imap.lock:
            assert self.selected is not None
            box = self.imap._folder(self.selected)
            if command == "SEARCH":
                found = [m.uid for m in box.messages if _matches(m, args)]
                self.send("* SEARCH" + "".join(f" {uid}" for uid in found))
                return "OK", "UID SEARCH completed"
            chosen = _select_uids(box, str(args[0]))
            if command == "FETCH":
                items = args[1] if isinstance(args[1], list) else [args[1]]
                for seq, message in chosen:
                    self.fetch(seq, message, [str(item).upper() for item in items])
                return "OK", "UID FETCH completed"
            self.require_writable()
            if command == "STORE":
                mode, flags = str(args[1]).upper(), args[2]
                flags = flags if isinstance(flags, list) else [flags]
                for seq, message in chosen:
                    self.store(seq, message, mode, [_text(flag) for flag in flags])
                return "OK", "UID STORE completed"
            if command in ("COPY", "MOVE"):
                if command == "MOVE" and not self.imap.supports_move:
                    return "BAD", "Unsupported command MOVE"
                return self.copy(box, chosen, _text(args[1]), move=command == "MOVE")
            if command == "EXPUNGE":
                self.expunge({m.uid for _, m in chosen})
                return "OK", "UID EXPUNGE completed"
        return "BAD", f"Unsupported UID command {command}"

    def require_writable(self) -> None:
        if self.readonly:
            raise ImapError("NO", "Mailbox is read-only")

    def fetch(self, seq: int, message: StoredMessage, items: list[str]) -> None:
        parts: list[bytes] = [f"UID {message.uid}".encode()]
        sets_seen = False
        for item in items:
            if item == "UID":
                continue
            if item == "FLAGS":
                parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
            elif item == "RFC822.SIZE":
                parts.append(f"RFC822.SIZE {len(message.data)}".encode())
            elif item in ("RFC822", "BODY[]", "BODY.PEEK[]"):
                name = "RFC822" if item == "RFC822" else "BODY[]"
                parts.append(f"{name} {{{len(message.data)}}}\r\n".encode() + message.data)
                sets_seen = sets_seen or item != "BODY.PEEK[]"
            elif item in ("BODY[HEADER]", "BODY.PEEK[HEADER]"):
                header = _header(message.data)
                parts.append(f"BODY[HEADER] {{{len(header)}}}\r\n".encode() + header)
                sets_seen = sets_seen or item != "BODY.PEEK[HEADER]"
            else:
                raise ImapError("BAD", f"Unsupported FETCH item {item}")
        if sets_seen and not self.readonly:
            message.flags.add("\\Seen")
        self.send(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")")

    def store(self, seq: int, message: StoredMessage, mode: str, flags: list[str]) -> None:
        wanted = self.imap._storable(flags)
        if mode.startswith("+FLAGS"):
            message.flags |= wanted
        elif mode.startswith("-FLAGS"):
            message.flags -= wanted
        elif mode.startswith("FLAGS"):
            message.flags = wanted
        else:
            raise ImapError("BAD", f"Unsupported STORE mode {mode}")
        if not mode.endswith(".SILENT"):
            shown = " ".join(sorted(message.flags))
            self.send(f"* {seq} FETCH (UID {message.uid} FLAGS ({shown}))")

    def copy(
        self, box: Folder, chosen: list[tuple[int, StoredMessage]], target: str, *, move: bool
    ) -> tuple[str, str]:
        destination = self.imap._folder(target)
        source_uids, target_uids = [], []
        for _, message in chosen:
            copied = StoredMessage(destination.uidnext, message.data, set(message.flags))
            destination.uidnext += 1
            destination.messages.append(copied)
            source_uids.append(str(message.uid))
            target_uids.append(str(copied.uid))
        uids = f"{','.join(source_uids)} {','.join(target_uids)}"
        code = f"[COPYUID {destination.uidvalidity} {uids}]"
        if not move:
            return "OK", f"{code} UID COPY completed"
        self.send(f"* OK {code} Moved")
        self._remove(box, {m.uid for _, m in chosen}, silent=False)
        return "OK", "UID MOVE completed"

    def expunge(self, uids: set[int] | None, *, silent: bool = False) -> None:
        with self.imap.lock:
            assert self.selected is not None
            self.require_writable()
            box = self.imap._folder(self.selected)
            deleted = {
                m.uid
                for m in box.messages
                if "\\Deleted" in m.flags and (uids is None or m.uid in uids)
            }
            self._remove(box, deleted, silent=silent)

    def _remove(self, box: Folder, uids: set[int], *, silent: bool) -> None:
        # Highest sequence number first, so each EXPUNGE number is right when it is read.
        for seq in range(len(box.messages), 0, -1):
            if box.messages[seq - 1].uid in uids:
                del box.messages[seq - 1]
                if not silent:
                    self.send(f"* {seq} EXPUNGE")


def _header(data: bytes) -> bytes:
    """Return the header section of a message, with the blank line that ends it."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end >= 0:
            return data[: end + len(separator)]
    return data


def _parse(line: bytes) -> list[Any]:
    """Split a command into atoms, quoted strings, literals (bytes) and nested lists."""
    stack: list[list[Any]] = [[]]
    pos = 0
    while pos < len(line):
        char = line[pos : pos + 1]
        if char == b" ":
            pos += 1
        elif char == b"(":
            stack.append([])
            pos += 1
        elif char == b")":
            if len(stack) == 1:
                raise ValueError("unbalanced parenthesis")
            done = stack.pop()
            stack[-1].append(done)
            pos += 1
        elif char == b'"':
            match = re.compile(rb'"((?:[^"\\]|\\.)*)"').match(line, pos)
            if match is None:
                raise ValueError("unterminated string")
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", match.group(1)).decode("utf-8"))
            pos = match.end()
        elif char == b"{":
            match = re.compile(rb"\{(\d+)\+?\}\r\n").match(line, pos)
            if match is None:
                raise ValueError("bad literal")
            size = int(match.group(1))
            stack[-1].append(line[match.end() : match.end() + size])
            pos = match.end() + size
        else:
            # An atom; brackets may hold spaces, as in BODY.PEEK[HEADER.FIELDS (FROM)].
            end, depth = pos, 0
            while end < len(line):
                current = line[end : end + 1]
                if current == b"[":
                    depth += 1
                elif current == b"]":
                    depth -= 1
                elif depth == 0 and current in (b" ", b"(", b")"):
                    break
                end += 1
            stack[-1].append(line[pos:end].decode("utf-8"))
            pos = end
    if len(stack) != 1:
        raise ValueError("unbalanced parenthesis")
    return stack[0]


def _text(token: Any) -> str:
    if isinstance(token, bytes):
        return token.decode("utf-8")
    if isinstance(token, list):
        raise ValueError("expected a string")
    return str(token)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _select_uids(box: Folder, spec: str) -> list[tuple[int, StoredMessage]]:
    """Return (sequence number, message) for a UID set such as `1,4:7,9:*`."""
    highest = box.messages[-1].uid if box.messages else 0
    ranges = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        start = highest if low == "*" else int(low)
        end = start if not high else (highest if high == "*" else int(high))
        ranges.append((min(start, end), max(start, end)))
    return [
        (seq, message)
        for seq, message in enumerate(box.messages, 1)
        if any(low <= message.uid <= high for low, high in ranges)
    ]


def _matches(message: StoredMessage, criteria: list[Any]) -> bool:
    """Evaluate SEARCH criteria (ALL, SEEN, UNSEEN, DELETED, UNDELETED, KEYWORD, NOT …)."""
    items = list(criteria)
    result = True
    while items:
        matched = _criterion(message, items)  # always called: it consumes the criterion
        result = result and matched
    return result


def _criterion(message: StoredMessage, items: list[Any]) -> bool:
    token = items.pop(0)
    if isinstance(token, list):
        return _matches(message, token)
    word = str(token).upper()
    if word == "NOT":
        return not _criterion(message, items)
    if word == "ALL":
        return True
    if word in ("SEEN", "UNSEEN", "DELETED", "UNDELETED", "FLAGGED", "UNFLAGGED"):
        flag = "\\" + word.removeprefix("UN").capitalize()
        return (flag in message.flags) != word.startswith("UN")
    if word in ("KEYWORD", "UNKEYWORD"):
        keyword = _text(items.pop(0))
        return (keyword in message.flags) == (word == "KEYWORD")
    raise ImapError("BAD", f"Unsupported SEARCH criterion {word}")


def main(argv: list[str] | None = None) -> int:
    """Serve an SMTP sink that delivers into an IMAP mailbox until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.mail_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument("--imap-port", type=int, default=0)
    parser.add_argument("--username", default="warehouse")
    parser.add_argument("--password", default="sandbox-mail-password")
    args = parser.parse_args(argv)

    imap = ImapEmulator(args.username, args.password)
    smtp = SmtpSink(username=args.username, password=args.password, deliver_to=imap)
    imap_host, imap_port = imap.start(args.host, args.imap_port)
    smtp_host, smtp_port = smtp.start(args.host, args.smtp_port)
    print(f"mail emulator serving SMTP at {smtp_host}:{smtp_port}, IMAP at {imap_host}:{imap_port}")
    print(f"  username: {args.username}")
    print(f"  password: {args.password}")
    try:
        print("Ctrl-C stops it.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        smtp.stop()
        imap.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
