"""A synthetic DAVIS-layout benchmark made from real photographs.

Objects with exact masks (:mod:`erfkit.data.sprites`) move over photographic
backgrounds with smooth random motion, scaling and rotation; they occlude each
other, leave the frame and come back, and some videos hold a *distractor*: an
unannotated look-alike copy of a target that crosses it (the paper's failure
case of a second camel the tracker drifts to).  Masks are exact by construction:
object pixels are painted exactly where the mask says.

Everything is deterministic: the same config and seed give byte-identical
files, whatever the number of worker processes.

Difficulty knobs are the fields of :class:`SynthConfig`; the presets are
``default`` (60 train + 20 val videos of 32 frames at 240x427), ``tiny`` (for
tests) and ``hard`` (more objects, faster motion, distractors in every video).

``shapes="tracks"`` (the ``tracks`` preset) takes each object's outline,
deformation and motion from a real video's masks instead of a rigid sprite,
with a zooming camera and motion blur (:mod:`erfkit.data.synth_tracks`): it is
meant to transfer to real video.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes, atomic_write_json, atomic_write_text
from .masks import mask_bytes
from .synth_config import SYNTH_PRESETS, SynthConfig
from .sprites import Sprite, background_library, sprite_library
from .synth_tracks import render_tracks_video

__all__ = ["SynthConfig", "SYNTH_PRESETS", "make_synth", "render_video", "default_synth_root"]

SYNTH_VERSION = 1


def default_synth_root() -> Path:
    """Where the default benchmark lives unless told otherwise (``$ERFKIT_DATA`` or ``./data/synth``)."""
    return Path(os.environ.get("ERFKIT_DATA", "data/synth"))


# ------------------------------------------------------------------ trajectory
@dataclass
class _Path:
    """Smooth motion of one layer: centre, size (pixels), angle (degrees) per frame."""

    centre: np.ndarray  # [T, 2] (x, y)
    size: np.ndarray  # [T]
    angle: np.ndarray  # [T]


def _smooth_path(rng: np.random.Generator, cfg: SynthConfig, size0: float, start: np.ndarray,
                 leave: bool) -> _Path:
    T, W, H = cfg.frames, cfg.width, cfg.height
    u = np.linspace(0.0, 1.0, T)
    direction = rng.uniform(0, 2 * math.pi)
    travel = rng.uniform(0.2, 0.6) * W * cfg.speed
    end = start + np.stack([np.cos(direction), np.sin(direction)]) * travel
    end = np.clip(end, [0.15 * W, 0.2 * H], [0.85 * W, 0.8 * H])  # paths end inside the frame
    drift = end - start
    wob_amp = rng.uniform(0.02, 0.08, size=2) * np.array([W, H]) * cfg.speed
    wob_f = rng.uniform(0.5, 1.5, size=2)
    wob_p = rng.uniform(0, 2 * math.pi, size=2)
    wobble = wob_amp * (np.sin(2 * math.pi * wob_f * u[:, None] + wob_p) - np.sin(wob_p))
    centre = start + u[:, None] * drift + wobble
    if leave:
        # Swing out through the nearest side and come back: fully outside mid-video.
        side = int(rng.integers(4))
        exit_pt = {0: (-size0, None), 1: (W + size0, None), 2: (None, -size0), 3: (None, H + size0)}[side]
        swing = np.sin(math.pi * u) ** 2
        for axis, target in enumerate(exit_pt):
            if target is not None:
                centre[:, axis] = centre[:, axis] + swing * (target - centre[:, axis])
    log_scale = math.log(cfg.scale_change) * rng.uniform(0.3, 1.0)
    size = size0 * np.exp(log_scale * np.sin(2 * math.pi * rng.uniform(0.3, 1.0) * u + rng.uniform(0, 2 * math.pi)))
    size *= size0 / size[0]
    angle0 = rng.uniform(-15, 15)
    angle = angle0 + cfg.rotation * rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * rng.uniform(0.2, 0.8) * u)
    return _Path(centre, size, angle)


def _cross(path: _Path, other: _Path, frame: int) -> None:
    """Shift ``path`` so that it passes through ``other``'s centre at ``frame``."""
    path.centre = path.centre + (other.centre[frame] - path.centre[frame])


# ------------------------------------------------------------------- rendering
@dataclass
class _Layer:
    sprite: Sprite
    path: _Path
    label: int  # object id, or 0 for a distractor
    gain: np.ndarray  # per-channel colour gain
    mirror: bool


def _affine_patch(layer: _Layer, t: int, H: int, W: int):
    """Warp the layer's sprite for frame ``t`` into its bounding box in the frame."""
    sp = layer.sprite
    rgb, mask = sp.rgb, sp.mask
    if layer.mirror:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    s = layer.path.size[t] / sp.extent
    th = math.radians(layer.path.angle[t])
    c, si = math.cos(th), math.sin(th)
    A = s * np.array([[c, -si], [si, c]])
    cx, cy = layer.path.centre[t]
    h, w = mask.shape
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [-w / 2, h / 2], [w / 2, h / 2]]) @ A.T + [cx, cy]
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return None
    Ai = np.linalg.inv(A)
    # PIL maps output pixel (x, y) to input a*(x+.5) + b*(y+.5) + c (continuous coordinates).
    off = Ai @ (np.array([x0, y0], dtype=float) - [cx, cy]) + [w / 2, h / 2]
    data = (Ai[0, 0], Ai[0, 1], off[0], Ai[1, 0], Ai[1, 1], off[1])
    size = (x1 - x0, y1 - y0)
    rgb_img = Image.fromarray(np.ascontiguousarray(rgb)).transform(
        size, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    m_img = Image.fromarray(np.ascontiguousarray(mask).astype(np.uint8) * 255).transform(
        size, Image.Transform.AFFINE, data, resample=Image.Resampling.NEAREST, fillcolor=0)
    patch = np.asarray(rgb_img).astype(np.float32) * layer.gain
    return (slice(y0, y1), slice(x0, x1)), np.clip(patch, 0, 255), np.asarray(m_img) > 127


def _background(rng: np.random.Generator, cfg: SynthConfig, exclude: set[str]):
    choices = [b for b in background_library() if b[0] not in exclude]
    name, img = choices[int(rng.integers(len(choices)))]
    H, W = cfg.height, cfg.width
    margin = 1.0 + 2 * cfg.camera_motion + 0.05
    scale = max(margin * H / img.shape[0], margin * W / img.shape[1])
    big = Image.fromarray(img).resize((int(math.ceil(img.shape[1] * scale)), int(math.ceil(img.shape[0] * scale))),
                                      Image.Resampling.BILINEAR)
    big = np.asarray(big).astype(np.float32)
    if rng.random() < 0.5:
        big = big[:, ::-1]
    tint = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    big = np.clip(big * tint, 0, 255)
    bh, bw = big.shape[:2]
    start = np.array([rng.uniform(0, bw - W), rng.uniform(0, bh - H)])
    move = rng.normal(size=2) * cfg.camera_motion * np.array([W, H])
    end = np.clip(start + move, 0, [bw - W, bh - H])
    return name, big, start, end


def _plan_video(rng: np.random.Generator, cfg: SynthConfig) -> tuple[list[_Layer], dict[str, Any]]:
    """Choose sprites and paths; objects must be well visible in the first frame."""
    sprites = sprite_library()
    H, W, T = cfg.height, cfg.width, cfg.frames
    n_obj = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    families = sorted({s.family for s in sprites})
    chosen: list[Sprite] = []
    for fam in rng.permutation(families)[:n_obj]:  # distinct families: targets differ from each other
        members = [s for s in sprites if s.family == fam]
        chosen.append(members[int(rng.integers(len(members)))])
    layers: list[_Layer] = []
    info: dict[str, Any] = {"objects": {}, "distractor": None}
    for k, sp in enumerate(chosen, start=1):
        size0 = rng.uniform(*cfg.object_size) * H
        start = np.array([rng.uniform(0.2, 0.8) * W, rng.uniform(0.25, 0.75) * H])
        leave = bool(rng.random() < cfg.leave_prob)
        path = _smooth_path(rng, cfg, size0, start, leave)
        layers.append(_Layer(sp, path, k, np.ones(3, np.float32), bool(rng.random() < 0.5)))
        info["objects"][str(k)] = {"sprite": sp.name, "leaves_frame": leave}
    for layer in layers[1:]:
        if rng.random() < cfg.occlusion_prob:
            other = layers[int(rng.integers(len(layers)))]
            if other is not layer:
                _cross(layer.path, other.path, int(rng.integers(T // 3, max(T // 3 + 1, 2 * T // 3))))
    if rng.random() < cfg.distractor_prob:
        target = layers[int(rng.integers(len(layers)))]
        size0 = target.path.size[0] * rng.uniform(0.85, 1.15)
        start = np.array([rng.uniform(0.1, 0.9) * W, rng.uniform(0.2, 0.8) * H])
        path = _smooth_path(rng, cfg, size0, start, False)
        cross_at = int(rng.integers(max(1, T // 3), max(2, 3 * T // 4)))
        _cross(path, target.path, cross_at)
        gain = (1.0 + rng.uniform(-cfg.distractor_jitter, cfg.distractor_jitter, size=3)).astype(np.float32)
        layers.append(_Layer(target.sprite, path, 0, gain, bool(rng.random() < 0.5)))
        info["distractor"] = {"copies_object": target.label, "sprite": target.sprite.name, "crosses_at": cross_at}
    z = rng.permutation(len(layers))
    return [layers[i] for i in z], info


def _composite(layers: list[_Layer], t: int, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    H, W = base.shape[:2]
    frame = base.copy()
    labels = np.zeros((H, W), np.uint8)
    for layer in layers:
        warped = _affine_patch(layer, t, H, W)
        if warped is None:
            continue
        (ys, xs), patch, m = warped
        frame[ys, xs][m] = patch[m]
        labels[ys, xs][m] = layer.label
    return frame, labels


def render_video(cfg: SynthConfig, split: str, index: int) -> tuple[str, list[np.ndarray], list[np.ndarray], dict]:
    """Render one video in memory.

    Returns:
        ``(name, frames, masks, info)``: frames ``[H, W, 3]`` uint8 (before JPEG
        compression), masks ``[H, W]`` uint8 ids, and what the video holds.
    """
    split_code = {"train": 1, "val": 2}.get(split, 3)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, split_code, index]))
    if cfg.shapes == "tracks":

        source, frames, masks, info = render_tracks_video(cfg, rng)
        name = f"{split}{index:03d}-{source}" + ("-distractor" if info["distractor"] else "")
        return name, frames, masks, info
    H, W, T = cfg.height, cfg.width, cfg.frames
    for _attempt in range(50):
        layers, info = _plan_video(rng, cfg)
        _, first = _composite(layers, 0, np.zeros((H, W, 3), np.float32))
        ok = True
        for layer in layers:
            if layer.label == 0:
                continue
            full = np.pi / 4 * layer.path.size[0] ** 2 * 0.5
            if (first == layer.label).sum() < max(0.35 * full, 12):
                ok = False
                break
        if ok:
            break
    bg_name, big, start, end = _background(rng, cfg, {layer.sprite.family for layer in layers})
    info["background"] = bg_name
    u = np.linspace(0, 1, T)
    flicker = 1 + cfg.illumination * np.sin(2 * math.pi * rng.uniform(0.5, 2) * u + rng.uniform(0, 2 * math.pi))
    frames, masks = [], []
    for t in range(T):
        ox, oy = np.round(start + (end - start) * u[t]).astype(int)
        base = big[oy:oy + H, ox:ox + W]
        frame, labels = _composite(layers, t, base)
        frame = frame * flicker[t] + rng.normal(0, cfg.noise, size=frame.shape).astype(np.float32)
        frames.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        masks.append(labels)
    main = next(layer.sprite.family for layer in layers if layer.label == 1)
    name = f"{split}{index:03d}-{main}" + ("-distractor" if info["distractor"] else "")
    info["num_objects"] = len(info["objects"])
    return name, frames, masks, info


def _jpeg_bytes(frame: np.ndarray, quality: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality, subsampling=0)  # 4:4:4 chroma
    return buf.getvalue()


def _write_video(args: tuple[SynthConfig, str, int, str, str]) -> tuple[str, str, dict]:
    cfg, split, index, root, res = args
    name, frames, masks, info = render_video(cfg, split, index)
    base = Path(root)
    for t, (frame, mask) in enumerate(zip(frames, masks)):
        atomic_write_bytes(base / "JPEGImages" / res / name / f"{t:05d}.jpg", _jpeg_bytes(frame, cfg.jpeg_quality))
        atomic_write_bytes(base / "Annotations" / res / name / f"{t:05d}.png", mask_bytes(mask))
    return split, name, info


def make_synth(out: str | os.PathLike, config: SynthConfig | str = "default", *, force: bool = False,
               workers: int | None = None, progress: bool = True) -> Path:
    """Write the synthetic benchmark as a DAVIS 2017-layout dataset.

    The dataset is built in a temporary folder beside ``out`` and moved into
    place at the end, so ``out`` is never left half-written.

    Args:
        out: destination folder (must not exist unless ``force``).
        config: a :class:`SynthConfig` or a preset name (``default``, ``tiny``, ``hard``).
        force: replace an existing ``out``.
        workers: processes to render with (default: up to 2); the output does
            not depend on it.
        progress: show a progress bar.

    Returns:
        ``out``.  It holds ``JPEGImages/<H>p``, ``Annotations/<H>p``,
        ``ImageSets/2017/{train,val}.txt`` and ``synth.json`` (the config, the
        generator version and what each video holds).
    """
    if isinstance(config, str):
        if config not in SYNTH_PRESETS:
            raise ConfigError(f"unknown synth preset {config!r}; choose from {', '.join(SYNTH_PRESETS)}")
        config = SYNTH_PRESETS[config]
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise DataError("output folder exists and is not empty", out, option="force")
    out.parent.mkdir(parents=True, exist_ok=True)
    res = f"{config.height}p"
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        jobs = [(config, split, i, str(tmp), res)
                for split, n in (("train", config.train_videos), ("val", config.val_videos)) for i in range(n)]
        workers = min(workers or min(2, os.cpu_count() or 1), len(jobs))
        results = []
        with tqdm(total=len(jobs), desc="synth", unit="video", disable=not progress) as bar:
            if workers > 1:
                ctx = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
                with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                    for r in pool.map(_write_video, jobs):
                        results.append(r)
                        bar.update()
            else:
                for job in jobs:
                    results.append(_write_video(job))
                    bar.update()
        splits: dict[str, list[str]] = {"train": [], "val": []}
        videos = {}
        for split, name, info in results:
            splits[split].append(name)
            videos[name] = {"split": split, **info}
        for split, names in splits.items():
            atomic_write_text(tmp / "ImageSets" / "2017" / f"{split}.txt", "".join(n + "\n" for n in names))
        atomic_write_json(tmp / "synth.json", {"generator": "erfkit.synth", "version": SYNTH_VERSION,
                                               "config": config.to_dict(), "resolution": res, "videos": videos})
        if out.exists():
            trash = out.parent / f".{out.name}.old"
            if trash.exists():
                shutil.rmtree(trash)
            out.rename(trash)
            tmp.rename(out)
            shutil.rmtree(trash)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def synth_info(root: str | os.PathLike) -> dict[str, Any] | None:
    """The ``synth.json`` of a synthetic dataset, or ``None`` for other datasets."""
    p = Path(root) / "synth.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"malformed JSON ({e})", p) from None
