"""The demo data: the shared real videos copied unchanged, marked as pseudo ground truth after frame 0."""

from __future__ import annotations

from erfkit.dashboard.settings import DEFAULT_DATA, DashboardSettings
from erfkit.data.davis import DavisDataset, marked_pseudo_truth


def test_demo_data_is_the_shared_real_videos_with_osvos_masks_as_pseudo_truth(real_frames, osvos_masks):
    ds = DavisDataset(DEFAULT_DATA, "val")
    assert list(ds.names) == ["dog", "drift-straight"]
    for seq, n in (("dog", 60), ("drift-straight", 50)):
        jpgs = sorted((DEFAULT_DATA / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        pngs = sorted((DEFAULT_DATA / "Annotations" / "480p" / seq).glob("*.png"))
        assert len(jpgs) == len(pngs) == n
        for f in jpgs:  # byte for byte, as the README says
            assert f.read_bytes() == (real_frames / "JPEGImages" / "480p" / seq / f.name).read_bytes()
        assert pngs[0].read_bytes() == (real_frames / "Annotations" / "480p" / seq / "00000.png").read_bytes()
        for f in pngs[1:]:
            assert f.read_bytes() == (osvos_masks / seq / f.name).read_bytes()
    assert marked_pseudo_truth(DEFAULT_DATA)
    assert (DEFAULT_DATA / "README.md").read_text().count("pseudo ground truth") >= 2


def test_a_marked_folder_is_always_labelled_pseudo_ground_truth(tmp_path):
    assert DashboardSettings().truth_kind == "pseudo ground truth"  # the default data is the demo's
    assert DashboardSettings(data=str(tmp_path)).truth_kind == "ground truth"
    (tmp_path / "PSEUDO_GROUND_TRUTH").write_text("OSVOS masks after frame 0\n")
    assert DashboardSettings(data=str(tmp_path), truth_kind="ground truth").truth_kind == "pseudo ground truth"
