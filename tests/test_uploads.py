"""Tests of sslcore.data.uploads: an uploaded zip or folder becomes a named dataset in the runs folder; every hostile
upload (escaping names, symlinks, zip bombs by size and by count, non-images) is refused or cleaned in one line and
leaves nothing behind; names map to folders on the server only."""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from sslcore.data import load_dataset
from sslcore.data.uploads import (UploadLimits, delete_uploaded, list_uploaded, resolve_uploaded, save_upload,
                                  uploads_dir)
from sslcore.errors import ConfigError


def _jpeg(colour=(200, 30, 30), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _zip(entries: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    buf.seek(0)
    return buf


def _tree(prefix="", n=6) -> dict[str, bytes]:
    return {f"{prefix}{cls}/{i}.jpg": _jpeg(colour) for cls, colour in (("ant", (200, 30, 30)), ("bee", (30, 30, 200)))
            for i in range(n)}


def _refused(tmp_path, files, match, name="mine", **kw):
    with pytest.raises(ConfigError) as e:
        save_upload(tmp_path, name, files, **kw)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(("upload:", "name:")), msg
    assert __import__("re").search(match, msg), msg
    leftovers = list(uploads_dir(tmp_path).iterdir()) if uploads_dir(tmp_path).exists() else []
    assert leftovers == []                                         # no dataset, no staging folder
    return msg


def test_a_zip_of_an_image_folder_becomes_a_named_dataset(tmp_path, monkeypatch):
    saved = save_upload(tmp_path, "insects", [("insects.zip", _zip(_tree("insects/")))], image_size=16)
    assert saved["classes"] == ["ant", "bee"] and saved["images"] == 12
    folder = resolve_uploaded(tmp_path, "insects")
    assert folder == uploads_dir(tmp_path).resolve() / "insects" and (folder / "ant" / "0.jpg").is_file()
    rows = list_uploaded(tmp_path)
    assert [(r["name"], r["images"], r["classes"]) for r in rows] == [("insects", 12, ["ant", "bee"])]
    cache = Path(os.environ["SSL_LENS_CACHE"])
    decoded = set(cache.glob("*.npy"))
    ds = load_dataset("folder", root=str(folder), image_size=16)
    monkeypatch.chdir(tmp_path)
    load_dataset("folder", root="datasets/insects", image_size=16)  # relative or resolved: the same cache entry
    assert set(cache.glob("*.npy")) == decoded                      # decoded at upload, where the dataset stays
    assert ds.class_names == ["ant", "bee"] and len(ds) + len(load_dataset("folder", "test", root=str(folder),
                                                                           image_size=16)) == 12
    delete_uploaded(tmp_path, "insects")
    assert list_uploaded(tmp_path) == []
    assert len(decoded - set(cache.glob("*.npy"))) >= 2            # its train and test decodes left the cache


def test_a_folder_upload_keeps_its_tree_and_splits(tmp_path):
    files = [(f"photos/{split}/{cls}/{i}.jpg", io.BytesIO(_jpeg()))
             for split in ("train", "val") for cls in ("a", "b") for i in range(3)]
    saved = save_upload(tmp_path, "photos", files, image_size=16)
    assert saved["classes"] == ["a", "b"] and saved["notices"] == []
    assert (resolve_uploaded(tmp_path, "photos") / "val" / "b" / "2.jpg").is_file()


def test_loose_images_become_one_class_with_a_notice(tmp_path):
    saved = save_upload(tmp_path, "loose", [(f"{i}.jpg", io.BytesIO(_jpeg())) for i in range(4)], image_size=16)
    assert saved["classes"] == ["loose"] and any("one class" in n for n in saved["notices"])


def test_non_image_members_are_left_out_and_counted(tmp_path):
    entries = _tree() | {"ant/notes.txt": b"hi", "run.exe": b"MZ...", "bee/fake.jpg": b"not a jpeg",
                         "__MACOSX/ant/._0.jpg": b"junk", ".DS_Store": b"junk"}
    saved = save_upload(tmp_path, "mixed", [("m.zip", _zip(entries))], image_size=16)
    assert saved["images"] == 12
    assert any(n.startswith("left out 3 files that are not readable images") for n in saved["notices"])
    assert not (resolve_uploaded(tmp_path, "mixed") / "bee" / "fake.jpg").exists()


@pytest.mark.parametrize("entry", ["../evil.jpg", "ant/../../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg",
                                   "..\\evil.jpg"])
def test_entries_that_escape_the_folder_refuse_the_upload(tmp_path, entry):
    _refused(tmp_path, [("x.zip", _zip(_tree() | {entry: _jpeg()}))], r"points outside the dataset folder")
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path.parent / "evil.jpg").exists()


def test_a_folder_upload_cannot_escape_either(tmp_path):
    _refused(tmp_path, [("a/1.jpg", io.BytesIO(_jpeg())), ("../../x.jpg", io.BytesIO(_jpeg()))],
             r"entry '\.\./\.\./x\.jpg' points outside")


def test_symlink_members_refuse_the_upload(tmp_path):
    _refused(tmp_path, [("x.zip", _zip(_tree(), symlinks={"ant/link.jpg": "/etc/passwd"}))],
             r"^upload: entry 'ant/link\.jpg' is a symbolic link; refused$")


def test_zip_bomb_by_size_names_the_cap(tmp_path):
    bomb = _zip({"ant/big.jpg": b"\0" * (3 * 2**20)})              # 3 MB of zeros: a few KB compressed
    assert len(bomb.getvalue()) < 50_000
    _refused(tmp_path, [("b.zip", bomb)], r"unpacks to 3 MB, over the cap of 1 MB \(upload max_mb, "
                                          r"SSL_LENS_UPLOAD_MAX_MB\)", limits=UploadLimits(max_mb=1))


def test_zip_bomb_by_count_names_the_cap(tmp_path):
    _refused(tmp_path, [("c.zip", _zip(_tree(n=6)))], r"holds 12 entries, over the cap of 5 files \(upload "
                                                      r"max_files", limits=UploadLimits(max_files=5))


def test_bytes_are_counted_while_unpacking_when_sizes_lie(tmp_path):
    class Lying(io.BytesIO):
        size = 1                                                  # claims 1 byte, holds 2 MB
    _refused(tmp_path, [("a/1.jpg", Lying(b"\xff" * (2 * 2**20)))],
             r"unpacks to more than the cap of 1 MB .*stopped at 'a/1\.jpg'", limits=UploadLimits(max_mb=1))


def test_not_a_zip_and_no_images_are_one_line_errors(tmp_path):
    _refused(tmp_path, [("x.zip", io.BytesIO(b"PK not really"))], r"^upload: not a readable \.zip file")
    _refused(tmp_path, [("x.zip", _zip({"a/readme.txt": b"hello"}))],
             r"^upload: no readable images in it .*readme\.txt")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "shapes", "na\u0000me"])
def test_bad_dataset_names_are_refused(tmp_path, name):
    _refused(tmp_path, [("x.zip", _zip(_tree()))], r"^name: ", name=name)


def test_an_existing_name_is_not_overwritten(tmp_path):
    save_upload(tmp_path, "mine", [("x.zip", _zip(_tree(n=3)))], image_size=16)
    with pytest.raises(ConfigError, match=r"^name: a dataset named 'mine' exists"):
        save_upload(tmp_path, "mine", [("x.zip", _zip(_tree(n=3)))], image_size=16)


def test_names_resolve_only_to_folders_inside_the_uploads_folder(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    uploads_dir(tmp_path).mkdir(parents=True)
    os.symlink(outside, uploads_dir(tmp_path) / "sneaky")
    for name in ("sneaky", "../secret", "nothing", "/etc"):
        with pytest.raises(ConfigError):
            resolve_uploaded(tmp_path, name)
    with pytest.raises(ConfigError):
        delete_uploaded(tmp_path, "sneaky")
    assert outside.is_dir() and [r["name"] for r in list_uploaded(tmp_path)] == []


def test_caps_come_from_the_environment():
    assert UploadLimits.from_env({"SSL_LENS_UPLOAD_MAX_MB": "5", "SSL_LENS_UPLOAD_MAX_FILES": "7"}) == \
        UploadLimits(max_mb=5, max_files=7)
    with pytest.raises(ConfigError, match=r"^SSL_LENS_UPLOAD_MAX_MB: must be a positive whole number"):
        UploadLimits.from_env({"SSL_LENS_UPLOAD_MAX_MB": "-1"})


def test_datasets_cli_adds_lists_and_deletes(tmp_path, capsys):
    import json

    from sslcore.cli import main

    archive = tmp_path / "insects.zip"
    archive.write_bytes(_zip(_tree("insects/", n=5)).getvalue())
    runs = ["--runs-dir", str(tmp_path / "runs")]
    assert main(runs + ["datasets", "--add", str(archive)]) == 0
    assert "insects: 10 images, classes ant, bee" in capsys.readouterr().out
    assert main(runs + ["--json", "datasets"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["uploaded"]
    assert [(u["name"], u["images"], u["layout"]) for u in listed] == [("insects", 10, "8 train / 2 test")]
    assert main(runs + ["datasets", "--add", str(archive)]) == 2                    # the name is taken
    assert capsys.readouterr().err.strip() == ("error: name: a dataset named 'insects' exists; pick another name or "
                                               "delete it first")
    assert main(runs + ["datasets", "--delete", "../insects"]) == 2
    assert main(runs + ["datasets", "--delete", "insects"]) == 0
    assert not (tmp_path / "runs" / "datasets" / "insects").exists()


def test_an_upload_whose_images_do_not_decode_is_refused_and_removed(tmp_path):
    buf = io.BytesIO()
    Image.effect_noise((200, 150), 60).convert("RGB").save(buf, "JPEG", quality=90)
    truncated = buf.getvalue()[:len(buf.getvalue()) // 2]         # a whole header, half the data: opens, no decode
    entries = {f"{cls}/{i}.jpg": truncated for cls in ("ant", "bee") for i in range(3)}
    msg = _refused(tmp_path, [("t.zip", _zip(entries))], r"^upload: the images do not decode \(4 unreadable, e\.g\. "
                   r"[0-2]\.jpg: OSError: image file is truncated .*\); nothing was stored$")
    assert str(tmp_path) not in msg


def test_a_layout_that_makes_no_dataset_is_said_of_the_upload(tmp_path):
    msg = _refused(tmp_path, [("one.zip", _zip({"ant/0.jpg": _jpeg()}))],
                   r"^upload: folder 'mine' has too few images for a test split; add images")
    assert ".upload-" not in msg and str(tmp_path) not in msg
