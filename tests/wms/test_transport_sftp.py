"""The SFTP transport against the sandbox SFTP server: pinned host keys, whole files only."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from cartrover.adapters import AdapterError, AuthError, TransientError
from cartrover.http import BlockedDestination
from sandbox.sftp_server import SftpEmulator
from wms.files.transports.base import FileVanished, HostKeyMismatch
from wms.files.transports.sftp import (
    SftpTransport,
    TargetExists,
    fetch_host_key,
    host_key_fingerprint,
    parse_host_key,
)

USER = "merchant-a"
PASSWORD = "Pa55-word-of-merchant-a"
PASSPHRASE = "key-passphrase-9f3k"
DATA = b"order_no,sku,qty\r\n" + b"SHOP-2042,TOTE-OL,1\r\n" * 50_000  # about 1 MB


@pytest.fixture(autouse=True)
def private_targets(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpEmulator]:
    emulator = SftpEmulator(tmp_path / "sftp")
    emulator.add_user(USER, password=PASSWORD)
    with emulator:
        yield emulator


def make_transport(
    server: SftpEmulator, credentials: dict | None = None, **settings
) -> SftpTransport:
    return SftpTransport(
        credentials={"password": PASSWORD} if credentials is None else credentials,
        settings={
            "host": server.host,
            "port": server.port,
            "username": USER,
            "root": "/",
            "host_key": server.host_key_line(),
            **settings,
        },
        connection_key="sftp:7",
    )


@pytest.fixture
def transport(server: SftpEmulator) -> Iterator[SftpTransport]:
    with make_transport(server) as connected:
        yield connected


def folder(server: SftpEmulator, name: str) -> Path:
    return server.root / USER / name


def files_in(server: SftpEmulator, name: str) -> list[str]:
    return sorted(os.listdir(folder(server, name)))


def in_thread(target, *args) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def openssh_private_key(passphrase: str | None) -> tuple[str, str]:
    """Return (private key text, public key line) of a new Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    text = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return text, public.decode()


# --- Round trip ------------------------------------------------------------------------------


def test_put_list_get_move_round_trip(transport, server):
    final = transport.put("in", "ord_SHOP-2042_261126150000.csv", DATA)

    assert final == "/in/ord_SHOP-2042_261126150000.csv"
    assert files_in(server, "in") == ["ord_SHOP-2042_261126150000.csv"]
    assert transport.list("in") == ["ord_SHOP-2042_261126150000.csv"]
    assert transport.get("in", "ord_SHOP-2042_261126150000.csv") == DATA
    moved = transport.move("in", "ord_SHOP-2042_261126150000.csv", "archive")
    assert moved == "/archive/ord_SHOP-2042_261126150000.csv"
    assert transport.list("in") == []
    assert (folder(server, "archive") / "ord_SHOP-2042_261126150000.csv").read_bytes() == DATA


def test_upload_goes_to_a_filepart_renamed_when_complete(transport, server):
    transport.put("in", "ord_1.csv", b"x")

    writes = [op for op in server.operations if op.action in ("open_write", "posix_rename")]
    assert [(op.action, op.path, op.target) for op in writes] == [
        ("open_write", "/in/ord_1.csv.filepart", ""),
        ("posix_rename", "/in/ord_1.csv.filepart", "/in/ord_1.csv"),
    ]


def test_a_blank_root_means_the_login_folder(server):
    with make_transport(server, root="") as transport:
        assert transport.put("out", "shp_1.csv", b"x") == "out/shp_1.csv"
        assert transport.list("out") == ["shp_1.csv"]


def test_list_skips_temporary_names_and_folders_oldest_first(transport, server):
    inbox = folder(server, "out")
    for name in ("b.csv", "a.csv", "c.csv", "d.csv.filepart", "e.tmp", "f.part", "g.incomplete"):
        (inbox / name).write_bytes(b"x")
    (inbox / "sub").mkdir()
    os.utime(inbox / "c.csv", (1_700_000_000, 1_700_000_000))
    os.utime(inbox / "b.csv", (1_700_000_100, 1_700_000_100))
    os.utime(inbox / "a.csv", (1_700_000_100, 1_700_000_100))

    assert transport.list("out") == ["c.csv", "a.csv", "b.csv"]


def test_test_reports_the_folders_found(transport):
    report = transport.test()

    assert "archive/, errors/, in/, out/" in report
    assert PASSWORD not in report


# --- Partial files are never visible under the final name -----------------------------------


def test_a_consumer_never_sees_an_upload_held_midway(server):
    server.pause_upload_after(300_000)
    uploader = make_transport(server)
    consumer = make_transport(server)
    try:
        thread, errors = in_thread(uploader.put, "in", "ord_1.csv", DATA)
        assert server.wait_until_paused(10)

        assert consumer.list("in") == []
        assert files_in(server, "in") == ["ord_1.csv.filepart"]

        server.resume_upload()
        thread.join(timeout=30)
        assert not thread.is_alive() and errors == []
        assert consumer.list("in") == ["ord_1.csv"]
        assert consumer.get("in", "ord_1.csv") == DATA
    finally:
        server.clear_faults()
        uploader.close()
        consumer.close()


def test_a_consumer_listing_during_uploads_only_gets_complete_files(server):
    uploader = make_transport(server)
    consumer = make_transport(server)
    names = [f"ord_{number}.csv" for number in range(4)]
    seen: dict[str, bytes] = {}
    try:
        thread, errors = in_thread(lambda: [uploader.put("in", name, DATA) for name in names])
        for _ in range(5_000):  # bounded; ends soon after the uploads do
            for name in consumer.list("in"):
                seen.setdefault(name, consumer.get("in", name))
            if not thread.is_alive():
                break
        thread.join(timeout=30)

        assert errors == []
        assert set(seen) <= set(names)
        assert all(content == DATA for content in seen.values())
    finally:
        uploader.close()
        consumer.close()


def test_an_upload_cut_off_midway_is_transient_and_the_retry_leaves_one_file(transport, server):
    server.disconnect_after(200_000)

    with pytest.raises(TransientError) as caught:
        transport.put("in", "ord_1.csv", DATA)

    assert "connection" in caught.value.message and not caught.value.permanent
    assert "ord_1.csv" not in files_in(server, "in")
    assert "cut" in server.actions()

    transport.put("in", "ord_1.csv", DATA)

    assert files_in(server, "in") == ["ord_1.csv"]
    assert transport.list("in") == ["ord_1.csv"]
    assert (folder(server, "in") / "ord_1.csv").read_bytes() == DATA


# --- Host keys and logins --------------------------------------------------------------------


def test_a_changed_host_key_is_refused_before_anything_is_sent(server):
    transport = make_transport(server)  # pinned to the current key
    server.rotate_host_key()

    with pytest.raises(HostKeyMismatch) as caught:
        transport.put("in", "ord_1.csv", DATA)

    message = caught.value.message
    assert server.host_key.fingerprint in message
    assert "changed" in message and "verify" in message.lower()
    assert caught.value.permanent
    assert server.actions() == ["connect"]  # no login attempt, no write
    assert files_in(server, "in") == []
    assert PASSWORD not in message


def test_a_host_key_of_another_type_is_a_mismatch_too(server):
    other = paramiko.RSAKey(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    transport = make_transport(server, host_key=f"{other.get_name()} {other.get_base64()}")

    with pytest.raises(HostKeyMismatch, match=re.escape(server.host_key.fingerprint)):
        transport.list("in")

    assert "auth" not in server.actions()


def test_fetch_host_key_reads_the_key_without_logging_in(server):
    line = fetch_host_key(server.host, server.port)

    assert line == server.host_key_line()
    assert host_key_fingerprint(line) == server.host_key.fingerprint
    assert "auth" not in server.actions()


def test_a_known_hosts_line_is_accepted_as_host_key(server):
    line = f"[{server.host}]:{server.port} {server.host_key_line()} comment"

    assert parse_host_key(line) == server.host_key
    with make_transport(server, host_key=line) as transport:
        assert transport.list("in") == []


def test_an_unreadable_saved_host_key_is_refused_without_connecting(server):
    transport = make_transport(server, host_key="not a key")

    with pytest.raises(AdapterError, match="host key cannot be used") as caught:
        transport.list("in")

    assert caught.value.permanent
    assert server.actions() == []


def test_a_wrong_password_is_an_auth_error(server):
    transport = make_transport(server, {"password": "wrong-password-123"})

    with pytest.raises(AuthError) as caught:
        transport.list("in")

    assert caught.value.permanent
    assert USER in caught.value.message
    assert "wrong-password-123" not in caught.value.message
    assert not isinstance(caught.value, HostKeyMismatch)


def test_an_encrypted_private_key_logs_in_with_its_passphrase(server):
    private, public = openssh_private_key(PASSPHRASE)
    server.add_user("merchant-b", public_key=public)
    credentials = {"private_key": private, "passphrase": PASSPHRASE}

    with make_transport(server, credentials, username="merchant-b") as transport:
        transport.put("in", "ord_1.csv", b"x")

    assert (server.root / "merchant-b" / "in" / "ord_1.csv").read_bytes() == b"x"


def test_a_pem_rsa_private_key_logs_in(server):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    server.add_user("merchant-b", public_key=paramiko.RSAKey(key=key))

    with make_transport(server, {"private_key": private}, username="merchant-b") as transport:
        assert transport.list("in") == []


def test_an_encrypted_private_key_without_passphrase_asks_for_it(server):
    private, public = openssh_private_key(PASSPHRASE)
    server.add_user("merchant-b", public_key=public)
    transport = make_transport(server, {"private_key": private}, username="merchant-b")

    with pytest.raises(AuthError, match="enter its passphrase"):
        transport.list("in")

    assert server.actions() == []


def test_a_key_the_server_does_not_know_is_an_auth_error(server):
    private, _ = openssh_private_key(None)

    with pytest.raises(AuthError):
        make_transport(server, {"private_key": private}).list("in")


def test_secrets_stay_out_of_logs_reprs_and_errors(server, caplog):
    caplog.set_level(logging.DEBUG)
    private, public = openssh_private_key(PASSPHRASE)
    server.add_user("merchant-b", public_key=public)
    key_lines = [line for line in private.splitlines() if "PRIVATE KEY" not in line]
    key_user = make_transport(
        server, {"private_key": private, "passphrase": PASSPHRASE}, username="merchant-b"
    )
    password_user = make_transport(server)
    messages = []

    with key_user, password_user:
        key_user.put("in", "ord_1.csv", b"x")
        password_user.put("in", "ord_1.csv", b"x")
        messages.append(key_user.test())
    for failing in (
        make_transport(server, {"password": PASSWORD + "-old"}),
        make_transport(
            server, {"private_key": private, "passphrase": "wrong-" + PASSPHRASE}, username="b"
        ),
    ):
        with pytest.raises(AuthError) as caught:
            failing.list("in")
        messages.append(caught.value.message)
    server.rotate_host_key()
    with pytest.raises(HostKeyMismatch) as mismatch:
        password_user.list("in")
    messages.append(mismatch.value.message)

    shown = "\n".join([caplog.text, repr(key_user), repr(password_user), *messages])
    for secret in (PASSWORD, PASSPHRASE, *key_lines):
        assert secret not in shown
    assert "sftp connected" in caplog.text  # the log was captured


# --- Renames ---------------------------------------------------------------------------------


def test_without_posix_rename_a_plain_rename_is_used(server, transport):
    server.posix_rename = False

    transport.put("in", "ord_1.csv", b"x")

    assert files_in(server, "in") == ["ord_1.csv"]
    renames = [(op.action, op.ok) for op in server.operations if "rename" in op.action]
    assert renames == [("posix_rename", False), ("rename", True)]


@pytest.mark.parametrize("posix_rename", [True, False])
def test_an_existing_final_file_is_never_overwritten(server, transport, posix_rename):
    server.posix_rename = posix_rename
    (folder(server, "in") / "ord_1.csv").write_bytes(b"original")

    with pytest.raises(TargetExists, match="already exists") as caught:
        transport.put("in", "ord_1.csv", b"new")

    assert caught.value.permanent
    assert (folder(server, "in") / "ord_1.csv").read_bytes() == b"original"
    assert files_in(server, "in") == ["ord_1.csv"]


def test_a_final_file_appearing_during_the_upload_is_kept_without_posix_rename(server, transport):
    server.posix_rename = False

    def another_writer(old: Path, new: Path) -> None:
        new.write_bytes(b"original")

    server.before_rename = another_writer

    with pytest.raises(TargetExists, match="not overwritten"):
        transport.put("in", "ord_1.csv", b"new")

    assert (folder(server, "in") / "ord_1.csv").read_bytes() == b"original"
    assert files_in(server, "in") == ["ord_1.csv"]


def test_move_never_overwrites_and_adds_a_suffix(transport, server):
    (folder(server, "archive") / "shp_1.csv").write_bytes(b"first")
    (folder(server, "in") / "shp_1.csv").write_bytes(b"second")

    moved = transport.move("in", "shp_1.csv", "archive")

    assert moved == "/archive/shp_1_1.csv"
    assert (folder(server, "archive") / "shp_1.csv").read_bytes() == b"first"
    assert (folder(server, "archive") / "shp_1_1.csv").read_bytes() == b"second"


def test_a_file_vanished_between_list_and_get_is_file_vanished(transport, server):
    (folder(server, "out") / "shp_1.csv").write_bytes(b"x")
    assert transport.list("out") == ["shp_1.csv"]
    (folder(server, "out") / "shp_1.csv").unlink()  # another consumer took it

    with pytest.raises(FileVanished):
        transport.get("out", "shp_1.csv")
    with pytest.raises(FileVanished):
        transport.move("out", "shp_1.csv", "archive")


def test_a_missing_folder_says_what_to_create(transport):
    with pytest.raises(AdapterError, match="does not exist") as caught:
        transport.list("manual")

    assert caught.value.permanent


# --- Paths and destinations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder_name", "name"),
    [
        ("../merchant-b", "x.csv"),
        ("in/../..", "x.csv"),
        ("/etc", "passwd"),
        ("in", "../x.csv"),
        ("in", ".."),
        ("in", "x\x00.csv"),
        ("in\x00", "x.csv"),
    ],
)
def test_path_traversal_is_refused_before_anything_is_sent(server, folder_name, name):
    transport = make_transport(server)

    with pytest.raises(AdapterError, match="refused") as caught:
        transport.put(folder_name, name, b"x")

    assert caught.value.permanent
    assert server.actions() == []


def test_the_server_keeps_each_login_in_its_own_folder(server):
    server.add_user("merchant-b", password="other-password")
    (server.root / "merchant-b" / "in" / "theirs.csv").write_bytes(b"x")

    with make_transport(server, root="/../merchant-b/..") as transport:
        assert transport.list("in") == []


def test_private_addresses_are_refused_unless_allowed(server, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = False
    settings.HTTP_ALLOWED_NETWORKS = []

    with pytest.raises(BlockedDestination, match="loopback"):
        make_transport(server).list("in")
    with pytest.raises(BlockedDestination):
        fetch_host_key(server.host, server.port)

    settings.HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with make_transport(server) as transport:
        assert transport.list("in") == []
    assert server.actions().count("connect") == 1  # only the allowed one reached the server


def test_an_unreachable_server_is_transient(server):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    transport = make_transport(server, port=port)  # nothing listens there any more

    with pytest.raises(TransientError, match="could not connect"):
        transport.list("in")


def test_a_server_that_never_answers_times_out(server):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks
        transport = make_transport(server, port=silent.getsockname()[1])
        transport.handshake_timeout = 0.5

        with pytest.raises(TransientError) as caught:
            transport.list("in")

    assert not caught.value.permanent
