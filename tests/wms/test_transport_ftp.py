"""FtpTransport against the sandbox FTP/FTPS server: whole files only, nothing overwritten."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from cartrover.adapters import AdapterError, AuthError, TransientError
from cartrover.http import BlockedDestination
from sandbox.ftp_server import FtpEmulator
from wms.files.transports.base import FileVanished, HostKeyMismatch, TargetExists
from wms.files.transports.ftp import FtpTransport

USERNAME = "merchant-a"
PASSWORD = "ftp-Secret-7731"
CSV = b"order_no,sku,qty\r\nSHOP-2042,TOTE-OL,1\r\n"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture(params=[False, True], ids=["ftp", "ftps"])
def server(request) -> Iterator[FtpEmulator]:
    emulator = FtpEmulator(tls=request.param)
    emulator.add_user(USERNAME, PASSWORD)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def plain_server() -> Iterator[FtpEmulator]:
    emulator = FtpEmulator()
    emulator.add_user(USERNAME, PASSWORD)
    emulator.start()
    yield emulator
    emulator.stop()


def make_transport(
    server: FtpEmulator, *, password: str = PASSWORD, passive: bool = True, **settings: object
) -> FtpTransport:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": USERNAME,
        "tls": "explicit" if server.tls else "none",
        "ca_certificate": server.certificate_pem,
        "passive": passive,
        "timeout": 10,
        **settings,
    }
    return FtpTransport(
        credentials={"password": password}, settings=values, connection_key="ftp:test"
    )


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_put_list_get_move_round_trip(server, passive):
    with make_transport(server, passive=passive) as transport:
        path = transport.put("in", "ord_1.csv", CSV)
        listed = transport.list("in")
        content = transport.get("in", "ord_1.csv")
        archived = transport.move("in", "ord_1.csv", "archive")
        left = transport.list("in")

    assert path == "in/ord_1.csv"
    assert listed == ["ord_1.csv"]
    assert content == CSV
    assert archived == "archive/ord_1.csv"
    assert left == []
    assert server.files(USERNAME, "archive") == ["ord_1.csv"]
    assert (server.home(USERNAME) / "archive" / "ord_1.csv").read_bytes() == CSV


def test_upload_goes_through_a_temporary_name(plain_server):
    with make_transport(plain_server) as transport:
        transport.put("in", "ord_2.csv", CSV)

    completed = [u.path for u in plain_server.uploads if u.completed]
    assert completed == ["/in/ord_2.csv.filepart"]
    assert plain_server.files(USERNAME, "in") == ["ord_2.csv"]


def test_list_skips_temporary_names_and_folders_oldest_first(plain_server):
    folder = plain_server.home(USERNAME) / "out"
    for index, name in enumerate(["shp_a.csv", "shp_b.csv", "shp_c.csv.filepart", "x.tmp"]):
        path = folder / name
        path.write_bytes(CSV)
        # Distinct modification times a minute apart: the later a name here, the older.
        os.utime(path, (1_700_000_000 - index * 60, 1_700_000_000 - index * 60))
    (folder / "sub").mkdir()

    with make_transport(plain_server) as transport:
        names = transport.list("out")

    assert names == ["shp_b.csv", "shp_a.csv"]


def test_list_falls_back_to_nlst_on_servers_without_mlsd(request):
    emulator = FtpEmulator(mlsd=False)
    emulator.add_user(USERNAME, PASSWORD)
    emulator.start()
    request.addfinalizer(emulator.stop)
    folder = emulator.home(USERNAME) / "out"
    for index, name in enumerate(["shp_a.csv", "shp_b.csv", "shp_c.csv.part"]):
        (folder / name).write_bytes(CSV)
        os.utime(folder / name, (1_700_000_000 - index * 60, 1_700_000_000 - index * 60))
    (folder / "sub").mkdir()

    with make_transport(emulator) as transport:
        names = transport.list("out")

    assert names == ["shp_b.csv", "shp_a.csv"]


def test_names_that_could_smuggle_commands_or_paths_are_refused(plain_server):
    with make_transport(plain_server) as transport:
        for folder, name in [
            ("in", "x.csv\r\nDELE y.csv"),
            ("in", "../x.csv"),
            ("../etc", "x.csv"),
            ("in", "ord.csv.filepart"),
        ]:
            with pytest.raises(AdapterError) as caught:
                transport.put(folder, name, CSV)
            assert caught.value.permanent

    assert plain_server.uploads == []


def test_interrupted_upload_is_transient_and_a_retry_leaves_exactly_one_file(plain_server):
    data = b"x" * 300_000
    plain_server.disconnect_upload_after(1_000)
    transport = make_transport(plain_server)
    transport.open()
    try:
        with pytest.raises(TransientError):
            transport.put("in", "ord_3.csv", data)
        final_after_failure = transport.list("in")
        transport.put("in", "ord_3.csv", data)
        final_after_retry = transport.list("in")
    finally:
        transport.close()

    assert final_after_failure == []
    assert final_after_retry == ["ord_3.csv"]
    assert plain_server.files(USERNAME, "in") == ["ord_3.csv"]
    assert (plain_server.home(USERNAME) / "in" / "ord_3.csv").read_bytes() == data
    assert [u.completed for u in plain_server.uploads] == [False, True]


def test_put_refuses_to_overwrite_an_existing_file(plain_server):
    (plain_server.home(USERNAME) / "in" / "ord_4.csv").write_bytes(b"theirs")

    with make_transport(plain_server) as transport, pytest.raises(TargetExists) as caught:
        transport.put("in", "ord_4.csv", CSV)

    assert caught.value.permanent
    assert "already exists" in caught.value.message
    assert plain_server.files(USERNAME, "in") == ["ord_4.csv"]
    assert (plain_server.home(USERNAME) / "in" / "ord_4.csv").read_bytes() == b"theirs"


def test_move_never_overwrites_a_file_of_the_same_name(plain_server):
    home = plain_server.home(USERNAME)
    (home / "archive" / "ord_5.csv").write_bytes(b"first")
    (home / "archive" / "ord_5_1.csv").write_bytes(b"second")
    (home / "in" / "ord_5.csv").write_bytes(b"third")

    with make_transport(plain_server) as transport:
        moved = transport.move("in", "ord_5.csv", "archive")

    assert moved == "archive/ord_5_2.csv"
    assert (home / "archive" / "ord_5.csv").read_bytes() == b"first"
    assert (home / "archive" / "ord_5_1.csv").read_bytes() == b"second"
    assert (home / "archive" / "ord_5_2.csv").read_bytes() == b"third"


def test_file_taken_between_list_and_get_raises_file_vanished(plain_server):
    (plain_server.home(USERNAME) / "out" / "shp_9.csv").write_bytes(CSV)

    with make_transport(plain_server) as transport:
        names = transport.list("out")
        (plain_server.home(USERNAME) / "out" / "shp_9.csv").unlink()
        with pytest.raises(FileVanished):
            transport.get("out", "shp_9.csv")
        with pytest.raises(FileVanished):
            transport.move("out", "shp_9.csv", "archive")

    assert names == ["shp_9.csv"]


def test_wrong_password_raises_auth_error_without_the_password(server, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-Password-4410"
    transport = make_transport(server, password=wrong)

    with pytest.raises(AuthError) as caught:
        transport.open()

    assert USERNAME in caught.value.message
    for text in (caught.value.message, repr(transport), caplog.text, repr(caught.value)):
        assert wrong not in text
        assert PASSWORD not in text


def test_secrets_stay_out_of_logs_and_reprs_on_success(plain_server, caplog):
    caplog.set_level(logging.DEBUG)
    with make_transport(plain_server) as transport:
        transport.put("in", "ord_6.csv", CSV)
        shown = repr(transport)

    assert PASSWORD not in caplog.text
    assert PASSWORD not in shown


def test_ftps_refuses_an_untrusted_certificate(request):
    emulator = FtpEmulator(tls=True)
    emulator.add_user(USERNAME, PASSWORD)
    emulator.start()
    request.addfinalizer(emulator.stop)
    transport = make_transport(emulator, ca_certificate="")

    with pytest.raises(HostKeyMismatch):
        transport.open()


def test_ftps_server_refuses_plain_ftp_login(request):
    emulator = FtpEmulator(tls=True)
    emulator.add_user(USERNAME, PASSWORD)
    emulator.start()
    request.addfinalizer(emulator.stop)
    transport = make_transport(emulator, tls="none")

    with pytest.raises(AdapterError):
        transport.open()


def test_unreachable_server_is_transient(plain_server):
    transport = make_transport(plain_server)
    plain_server.stop()

    with pytest.raises(TransientError):
        transport.open()


def test_private_address_is_refused_unless_allowed(plain_server, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = False
    transport = make_transport(plain_server)

    with pytest.raises(BlockedDestination) as caught:
        transport.open()

    assert caught.value.permanent
    assert "ftp:test" in caught.value.message
    assert plain_server.uploads == []


def test_test_reports_the_folders_found(plain_server):
    with make_transport(plain_server) as transport:
        summary = transport.test()

    assert "archive, errors, in, out" in summary
