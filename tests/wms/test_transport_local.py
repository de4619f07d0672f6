"""The local-folder transport: complete files only, oldest first, never out of its root."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cartrover.adapters import AdapterError
from wms.files.transports.base import FileVanished, TargetExists
from wms.files.transports.local import LocalFolderTransport


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "exchange"
    for name in ("in", "out", "archive", "errors"):
        (folder / name).mkdir(parents=True)
    return folder


@pytest.fixture
def transport(root: Path) -> LocalFolderTransport:
    return LocalFolderTransport(
        credentials={}, settings={"root": str(root)}, connection_key="local:1"
    )


def set_mtime(path: Path, stamp: int) -> None:
    os.utime(path, (stamp, stamp))


def test_put_list_get_move_round_trip(transport, root):
    final = transport.put("out", "ord_1.csv", b"order_no,sku\r\nSHOP-1,TOTE\r\n")

    assert final == str(root / "out" / "ord_1.csv")
    assert transport.list("out") == ["ord_1.csv"]
    assert transport.get("out", "ord_1.csv") == b"order_no,sku\r\nSHOP-1,TOTE\r\n"
    moved = transport.move("out", "ord_1.csv", "archive")
    assert moved == str(root / "archive" / "ord_1.csv")
    assert transport.list("out") == []
    assert (root / "archive" / "ord_1.csv").read_bytes() == b"order_no,sku\r\nSHOP-1,TOTE\r\n"


def test_put_leaves_no_temporary_file_behind(transport, root):
    transport.put("out", "ord_1.csv", b"x")

    assert sorted(os.listdir(root / "out")) == ["ord_1.csv"]


def test_list_skips_temporary_names_and_folders_oldest_first(transport, root):
    for name in ("b.csv", "a.csv", "c.csv", "d.csv.filepart", "e.tmp", "f.PART", "g.incomplete"):
        (root / "in" / name).write_bytes(b"x")
    (root / "in" / "sub").mkdir()
    set_mtime(root / "in" / "c.csv", 1_700_000_000)
    set_mtime(root / "in" / "b.csv", 1_700_000_100)
    set_mtime(root / "in" / "a.csv", 1_700_000_100)

    assert transport.list("in") == ["c.csv", "a.csv", "b.csv"]


def test_list_skips_links_that_could_lead_out_of_the_root(transport, root, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the warehouse")
    (root / "in" / "link.csv").symlink_to(outside)

    assert transport.list("in") == []
    with pytest.raises(AdapterError, match="link"):
        transport.get("in", "link.csv")


def test_a_consumer_listing_during_uploads_only_sees_complete_files(transport):
    data = b"x" * 2_000_000
    seen: dict[str, bytes] = {}
    done = threading.Event()

    def consume() -> None:
        for _ in range(10_000):  # bounded: stops when the uploads are done
            for name in transport.list("out"):
                seen.setdefault(name, transport.get("out", name))
            if done.is_set():
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    for number in range(5):
        transport.put("out", f"ord_{number}.csv", data)
    done.set()
    consumer.join(timeout=30)

    assert not consumer.is_alive()
    assert all(content == data for content in seen.values())
    assert set(seen) <= {f"ord_{number}.csv" for number in range(5)}


def test_put_does_not_overwrite_a_file_already_there(transport, root):
    (root / "out" / "ord_1.csv").write_bytes(b"original")

    with pytest.raises(TargetExists, match="already exists") as caught:
        transport.put("out", "ord_1.csv", b"new")

    assert caught.value.permanent
    assert (root / "out" / "ord_1.csv").read_bytes() == b"original"
    assert os.listdir(root / "out") == ["ord_1.csv"]


def test_move_never_overwrites_and_adds_a_suffix(transport, root):
    (root / "archive" / "ord_1.csv").write_bytes(b"first")
    (root / "archive" / "ord_1_1.csv").write_bytes(b"second")
    (root / "in" / "ord_1.csv").write_bytes(b"third")

    moved = transport.move("in", "ord_1.csv", "archive")

    assert moved == str(root / "archive" / "ord_1_2.csv")
    assert (root / "archive" / "ord_1.csv").read_bytes() == b"first"
    assert (root / "archive" / "ord_1_1.csv").read_bytes() == b"second"
    assert (root / "archive" / "ord_1_2.csv").read_bytes() == b"third"
    assert transport.list("in") == []


def test_a_file_vanished_between_list_and_get_is_file_vanished(transport, root):
    (root / "in" / "shp_1.csv").write_bytes(b"x")
    assert transport.list("in") == ["shp_1.csv"]
    (root / "in" / "shp_1.csv").unlink()  # another consumer took it

    with pytest.raises(FileVanished):
        transport.get("in", "shp_1.csv")
    with pytest.raises(FileVanished):
        transport.move("in", "shp_1.csv", "archive")


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("../outside", "x.csv"),
        ("in/../../outside", "x.csv"),
        ("/etc", "passwd"),
        ("in", "../../outside.csv"),
        ("in", "sub/x.csv"),
        ("in", ".."),
        ("in", "x\x00.csv"),
        ("in\x00", "x.csv"),
        ("in\\..\\..", "x.csv"),
        ("in", ""),
    ],
)
def test_path_traversal_is_refused_with_a_clear_error(transport, root, tmp_path, folder, name):
    with pytest.raises(AdapterError, match="refused") as caught:
        transport.put(folder, name, b"x")

    assert caught.value.permanent
    assert "local:1" in caught.value.message
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def test_a_folder_linked_out_of_the_root_is_refused(transport, root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with pytest.raises(AdapterError, match="outside the root"):
        transport.put("escape", "x.csv", b"x")

    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_missing_root_or_folder_says_what_to_create(tmp_path, root):
    missing_root = LocalFolderTransport(
        credentials={}, settings={"root": str(tmp_path / "nope")}, connection_key="local:2"
    )
    with pytest.raises(AdapterError, match="does not exist"):
        missing_root.list("in")

    transport = LocalFolderTransport(
        credentials={}, settings={"root": str(root)}, connection_key="local:3"
    )
    with pytest.raises(AdapterError, match="'manual' does not exist"):
        transport.list("manual")


def test_test_reports_the_folders_found(transport, root):
    (root / "in" / "ord_1.csv").write_bytes(b"x")

    report = transport.test()

    assert "in/ (1 files)" in report
    assert "archive/ (0 files)" in report


def test_a_root_outside_the_allowed_folders_is_refused_before_anything_is_read(tmp_path, settings):
    allowed, elsewhere = tmp_path / "exchange", tmp_path / "etc"
    for folder in (allowed / "shop" / "in", elsewhere / "in"):
        folder.mkdir(parents=True)
    (elsewhere / "in" / "secret.csv").write_text("not for carts")
    settings.LOCAL_FOLDER_ROOTS = [str(allowed)]

    def at(root: Path) -> LocalFolderTransport:
        return LocalFolderTransport(
            credentials={}, settings={"root": str(root)}, connection_key="c"
        )

    assert at(allowed / "shop").list("in") == []
    for outside in (elsewhere, allowed / ".." / "etc", Path("/")):
        with pytest.raises(AdapterError, match="LOCAL_FOLDER_ROOTS") as refused:
            at(outside).list("in")
        assert refused.value.permanent
