"""Index masks: the DAVIS palette, raw indices whatever the palette, atomic writes, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from erfkit.data.masks import davis_palette, read_frame, read_mask, write_mask
from erfkit.errors import DataError


def test_palette_is_pascal_voc():
    pal = davis_palette()
    assert len(pal) == 768
    assert pal[0:3] == bytes((0, 0, 0))
    assert pal[3:6] == bytes((128, 0, 0))
    assert pal[6:9] == bytes((0, 128, 0))
    assert pal[9:12] == bytes((128, 128, 0))
    assert pal[12:15] == bytes((0, 0, 128))
    assert pal[765:768] == bytes((224, 224, 192))  # 255, the void colour


def test_write_then_read_round_trip(tmp_path, rng):
    mask = rng.integers(0, 7, size=(33, 47)).astype(np.uint8)
    mask[0, 0] = 255
    path = tmp_path / "a" / "00000.png"
    write_mask(path, mask)
    im = Image.open(path)
    assert im.mode == "P"
    assert im.getpalette()[:12] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
    back = read_mask(path)
    assert back.dtype == np.uint8 and np.array_equal(back, mask)
    back[0, 1] = 3  # the array handed out is writable
    assert [p.name for p in path.parent.iterdir()] == ["00000.png"]  # no temporary left


def test_indices_are_read_raw_whatever_the_palette(tmp_path):
    mask = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    im = Image.fromarray(mask)
    im.putpalette([(i * 37) % 256 for i in range(768)])  # a strange palette
    im.save(tmp_path / "p.png")
    assert np.array_equal(read_mask(tmp_path / "p.png"), mask)
    Image.fromarray(mask).save(tmp_path / "l.png")  # grayscale
    assert np.array_equal(read_mask(tmp_path / "l.png"), mask)


def test_png_variants_decode_like_pillow(tmp_path, rng):
    """The fast path and Pillow agree (filters, bit depths, interlacing fall back to Pillow)."""
    mask = rng.integers(0, 4, size=(20, 31)).astype(np.uint8)
    im = Image.fromarray(mask)
    im.putpalette(davis_palette())
    for name, kw in {"opt": {"optimize": True}, "lace": {"interlace": 1}, "lvl0": {"compress_level": 0}}.items():
        im.save(tmp_path / f"{name}.png", **kw)
        assert np.array_equal(read_mask(tmp_path / f"{name}.png"), np.asarray(Image.open(tmp_path / f"{name}.png")))


def test_real_davis_masks_read_as_ids(osvos_masks):
    m = read_mask(osvos_masks / "gold-fish" / "00000.png")
    assert m.shape == (480, 854)
    assert set(np.unique(m)) == {0, 1, 2, 3, 4, 5}
    assert read_mask(osvos_masks / "bike-packing" / "00000.png").shape == (480, 910)
    assert read_mask(osvos_masks / "shooting" / "00000.png").shape == (480, 1152)


def test_rgb_mask_is_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match="RGB image; expected an indexed") as e:
        read_mask(tmp_path / "rgb.png")
    assert "rgb.png" in str(e.value)


def test_truncated_and_corrupt_files(tmp_path, osvos_masks):
    data = (osvos_masks / "camel" / "00000.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        read_mask(tmp_path / "cut.png")
    (tmp_path / "junk.png").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="not an image"):
        read_mask(tmp_path / "junk.png")
    with pytest.raises(DataError, match="not found"):
        read_mask(tmp_path / "missing.png")


def test_frames(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (8, 9, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "f.png")
    assert np.array_equal(read_frame(tmp_path / "f.png"), rgb)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpg")
    assert read_frame(tmp_path / "g.jpg").shape == (8, 9, 3)
    Image.fromarray(rgb).save(tmp_path / "h.jpg")
    data = (tmp_path / "h.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:40])
    with pytest.raises(DataError, match="cut.jpg"):
        read_frame(tmp_path / "cut.jpg")
