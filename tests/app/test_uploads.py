"""The "Try a video" page's uploads (``app.components.uploads``): the limit of one upload, the names files are
stored under, and that nothing is written outside the extraction's folder or for an upload refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.components.uploads import MB, UploadError, limit_mb, safe_name, save_uploads, stored_names


@pytest.mark.parametrize("environ, expected", [({}, 200), ({"Y8M_UPLOAD_MB": ""}, 200),
                                               ({"Y8M_UPLOAD_MB": "1"}, 1), ({"Y8M_UPLOAD_MB": " 2048 "}, 2048)])
def test_the_limit_is_y8m_upload_mb(environ: dict[str, str], expected: int) -> None:
    assert limit_mb(environ) == expected


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "lots", "1e3"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(UploadError, match=rf"^Y8M_UPLOAD_MB='{text}': expected a positive whole number"):
        limit_mb({"Y8M_UPLOAD_MB": text})


@pytest.mark.parametrize("name, stored", [
    ("holiday.mp4", "holiday.mp4"),
    ("My Holiday (2).MP4", "My_Holiday_2.mp4"),
    ("../../etc/cron.d/job.mkv", "job.mkv"),
    ("..\\..\\windows\\clip.webm", "clip.webm"),
    (".hidden.mov", "hidden.mov"),
    ("...mp4", "video.mp4"),
    (".mp4", "video.mp4"),
    ("vidéo été.avi", "vid_o_t.avi"),
    ("a.b.c.ts", "a_b_c.ts"),
    ("x" * 300 + ".mp4", "x" * 80 + ".mp4"),
])
def test_a_stored_name_is_a_plain_ascii_file_name_with_its_video_suffix(name: str, stored: str) -> None:
    assert safe_name(name) == stored


@pytest.mark.parametrize("name", ["notes.txt", "clip", "clip.mp4.exe", "../clip.mp4/", ""])
def test_a_name_without_a_video_suffix_is_refused_naming_it(name: str) -> None:
    with pytest.raises(UploadError, match=r"not a video file name \(expected one ending in \.mp4, \.mkv"):
        safe_name(name)


def test_stems_taken_by_an_earlier_file_get_a_number() -> None:
    """The stem is the video's id in the extracted dataset: no two files of an upload share one."""
    names = ["a.mp4", "a.mkv", "A.webm", "a-2.mp4", "b c.mp4", "b_c.mov"]
    assert stored_names([(n, 1) for n in names], 1) == ["a.mp4", "a-2.mkv", "A-3.webm", "a-2-2.mp4", "b_c.mp4",
                                                        "b_c-2.mov"]


def test_the_limit_holds_for_all_files_of_an_upload_together() -> None:
    assert stored_names([("a.mp4", MB), ("b.mp4", 2 * MB)], 3) == ["a.mp4", "b.mp4"]  # exactly the limit
    with pytest.raises(UploadError) as refused:
        stored_names([("a.mp4", MB), ("b.mp4", 2 * MB + 1), ("c.mp4", 1)], 3)
    assert str(refused.value) == ("b.mp4 (2.0 MB) brings the upload to 3.0 MB, which is over the limit of 3 MB for "
                                  "one upload (Y8M_UPLOAD_MB): upload fewer or shorter videos")
    with pytest.raises(UploadError) as refused:
        stored_names([("big.mp4", 250 * MB)], 200)
    assert str(refused.value) == ("big.mp4 (250.0 MB) is over the limit of 200 MB for one upload (Y8M_UPLOAD_MB): "
                                  "upload fewer or shorter videos")


def test_an_empty_upload_is_refused() -> None:
    with pytest.raises(UploadError, match="^no video chosen"):
        stored_names([], 200)


def test_save_writes_each_file_under_its_stored_name_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "extraction" / "uploads"
    paths = save_uploads([("../../evil.mp4", b"one"), ("evil.mp4", memoryview(b"two")), ("C:\\x\\y z.mkv", b"")],
                         folder, 1)
    assert paths == [folder / "evil.mp4", folder / "evil-2.mp4", folder / "y_z.mkv"]
    assert [p.read_bytes() for p in paths] == [b"one", b"two", b""]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["evil-2.mp4", "evil.mp4", "y_z.mkv"]


def test_save_writes_nothing_of_an_upload_refused(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    with pytest.raises(UploadError, match=r"^b\.mp4 \(1\.0 MB\) brings the upload to 1\.0 MB"):
        save_uploads([("a.mp4", b"x"), ("b.mp4", b"y" * MB)], folder, 1)
    with pytest.raises(UploadError, match="^notes.txt: not a video file name"):
        save_uploads([("a.mp4", b"x"), ("notes.txt", b"y")], folder, 1)
    assert not folder.exists()


def test_save_never_replaces_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        save_uploads([("a.mp4", b"new")], tmp_path, 1)
    assert (tmp_path / "a.mp4").read_bytes() == b"kept"
