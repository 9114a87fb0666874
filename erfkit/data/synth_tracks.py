"""Rendering of the ``tracks`` synthetic benchmark: real object shapes and motion on real photographs.

Each annotated object follows a real object's masks over consecutive frames
of a real video (:mod:`erfkit.data.tracks`): its outline, its deformation and
its motion are real.  It is filled with a photographed object's texture that
moves with it, shaded darker towards its border, and blended with soft
(anti-aliased) edges.  Over the scene:

* a camera that pans and zooms (everything changes scale together);
* motion blur along each object's motion in the frame;
* illumination that flickers and a light gradient that turns;
* a look-alike distractor (another real track wearing a target's texture)
  that crosses the target, occluding it or being occluded;
* objects that leave the frame and come back.

Annotations are the objects' visible pixels (alpha >= 0.5, top layer wins);
a distractor is never annotated.  Everything follows from the config's seed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from .sprites import Sprite, background_library, sprite_library
from .synth_config import SynthConfig
from .tracks import DEFAULT_TRACKS_ROOT, TrackSource, track_sources

__all__ = ["render_tracks_video"]


def _affine(a: float, t: np.ndarray) -> np.ndarray:
    """3x3 matrix of x -> a * x + t."""
    return np.array([[a, 0.0, t[0]], [0.0, a, t[1]], [0.0, 0.0, 1.0]])


def _warp(img: Image.Image, frame_to_src: np.ndarray, H: int, W: int) -> np.ndarray:
    """``img`` seen through ``frame_to_src`` at ``H x W`` (bilinear; 0 outside), as float32 ``[H, W(, C)]``.

    ``frame_to_src`` maps pixel indices of the frame to pixel indices of the source (pixel i's centre at i).
    """
    m = frame_to_src
    # PIL samples the input at A (x + 0.5) + c for output pixel x, in coordinates where pixel i spans [i, i + 1)
    c = m[:2, 2] - m[:2, :2] @ np.array([0.5, 0.5]) + 0.5
    data = (m[0, 0], m[0, 1], c[0], m[1, 0], m[1, 1], c[1])
    return np.asarray(img.transform((W, H), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR),
                      dtype=np.float32)


def _mask_image(mask: np.ndarray) -> Image.Image:
    """A bool mask as an 8-bit image (bilinear warping gives soft, anti-aliased edges: 255 = inside)."""
    return Image.fromarray(mask.astype(np.uint8) * 255, mode="L")


def _extent(mask: np.ndarray) -> int:
    """The larger side of ``mask``'s bounding box, in pixels."""
    ys, xs = np.nonzero(mask)
    return int(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))


def _smooth(rng: np.random.Generator, T: int) -> np.ndarray:
    """``[T]`` a smooth curve from 0, within [-1, 1]."""
    u = np.linspace(0.0, 1.0, T)
    f, p = rng.uniform(0.3, 1.0), rng.uniform(0, 2 * math.pi)
    return np.sin(2 * math.pi * f * u + p) - np.sin(p)


@dataclass
class _Layer:
    """One object in the scene: a real track, a texture, and the map from its video's pixels to the scene."""

    track: np.ndarray  # [T, h, w] bool: the real masks
    source: str
    texture: Sprite
    label: int  # object id; 0 for the distractor
    scale: float  # track pixels -> scene pixels
    offset: np.ndarray  # [T, 2] scene position of the track's origin (x, y)
    gain: np.ndarray  # [3] colour gain
    centroid: np.ndarray  # [T, 2] the track's centroid in its own pixels (x, y), held where absent

    @functools.cached_property
    def extent(self) -> int:
        """The object's first-frame extent in its video's pixels."""
        return _extent(self.track[0])

    def scene_centre(self, t: int) -> np.ndarray:
        return self.scale * self.centroid[t] + self.offset[t]

    @functools.cached_property
    def growth(self) -> np.ndarray:
        """``[T]`` the object's size relative to its first frame (square root of the area ratio; held where it
        is absent): its texture grows with it."""
        area = self.track.reshape(len(self.track), -1).sum(1).astype(float)
        out = np.sqrt(area / area[0])
        for t in range(1, len(out)):
            if area[t] == 0:
                out[t] = out[t - 1]
        return out

    @functools.cached_property
    def texture_image(self) -> Image.Image:
        return _mirrored(self.texture)


def _mirrored(sprite: Sprite) -> Image.Image:
    """A sprite's photograph mirrored on every side (a growing object never runs past it); the original sits
    at ``(w, h)``, its centre at 1.5 times its size."""
    rgb = sprite.rgb
    h, w = rgb.shape[:2]
    return Image.fromarray(np.ascontiguousarray(np.pad(rgb, ((h, h), (w, w), (0, 0)), mode="symmetric")), mode="RGB")


def _centroids(track: np.ndarray) -> np.ndarray:
    out = np.full((len(track), 2), np.nan)
    for t, m in enumerate(track):
        ys, xs = np.nonzero(m)
        if len(xs):
            out[t] = xs.mean(), ys.mean()
    # where the object is absent, hold the last (or next) known position: its texture stays attached
    known = np.flatnonzero(~np.isnan(out[:, 0]))
    for t in range(len(out)):
        if np.isnan(out[t, 0]):
            out[t] = out[known[np.argmin(np.abs(known - t))]]
    return out


def _pick_track(rng: np.random.Generator, sources: tuple[TrackSource, ...], used: set[str], T: int):
    for _ in range(200):
        src = sources[int(rng.integers(len(sources)))]
        if src.sequence in used:
            continue
        stride = int(rng.choice([1, 2]))
        starts = src.starts(T, stride)
        if not starts:
            continue
        start = starts[int(rng.integers(len(starts)))]
        return src, stride, start
    return None


def _layer(rng, cfg: SynthConfig, src: TrackSource, stride: int, start: int, texture: Sprite, label: int,
           extent: float | None = None) -> _Layer:
    """A track placed in the scene: scaled so that its first-frame extent is ``extent`` (scene pixels)."""
    H, W, T = cfg.height, cfg.width, cfg.frames
    track = src.window(start, stride, T)
    c = _centroids(track)
    if extent is None:
        extent = rng.uniform(*cfg.object_size) * H
    scale = extent / _extent(track[0])
    # keep the real motion, but start the object somewhere inside the frame
    target = np.array([rng.uniform(0.2, 0.8) * W, rng.uniform(0.25, 0.75) * H])
    offset = np.repeat((target - scale * c[0])[None], T, axis=0)
    return _Layer(track, src.name, texture, label, scale, offset, np.ones(3, np.float32), c)


def _leave_and_return(rng, layer: _Layer, cfg: SynthConfig) -> None:
    """Swing the layer out through the nearest side of the frame and back (fully outside mid-video)."""
    H, W, T = cfg.height, cfg.width, cfg.frames
    u = np.linspace(0.0, 1.0, T)
    swing = np.sin(math.pi * u) ** 2
    size = layer.scale * max(layer.track[0].shape)
    side = int(rng.integers(4))
    centre = np.array([layer.scene_centre(t) for t in range(T)])
    axis, goal = {0: (0, -size), 1: (0, W + size), 2: (1, -size), 3: (1, H + size)}[side]
    layer.offset[:, axis] += swing * (goal - centre[:, axis])


def _cross(layer: _Layer, other: _Layer, t: int) -> None:
    """Shift ``layer`` so that its centre passes through ``other``'s at frame ``t``."""
    layer.offset = layer.offset + (other.scene_centre(t) - layer.scene_centre(t))


def _camera(rng, cfg: SynthConfig) -> list[np.ndarray]:
    """Per frame: the 3x3 map from scene pixels to frame pixels (a pan and a zoom about the frame's centre)."""
    H, W, T = cfg.height, cfg.width, cfg.frames
    zoom = np.exp(math.log(max(cfg.zoom, 1.0)) * _smooth(rng, T) * rng.choice([-1.0, 1.0]) * 0.5)
    pan = np.stack([_smooth(rng, T), _smooth(rng, T)], axis=1) * cfg.camera_motion * np.array([W, H])
    centre = np.array([W / 2, H / 2])
    return [_affine(zoom[t], centre - zoom[t] * (centre + pan[t])) for t in range(T)]


def _background(rng, cfg: SynthConfig, exclude: set[str], cameras: list[np.ndarray], sources):
    """A photograph covering every frame's view of the scene, with ``cfg.clutter`` still objects on it
    (:func:`_clutter`); returns (name, image, image -> scene map)."""
    H, W = cfg.height, cfg.width
    choices = [b for b in background_library() if b[0] not in exclude]
    name, img = choices[int(rng.integers(len(choices)))]
    # the scene region any frame sees
    corners = np.array([[0, 0, 1], [W, 0, 1], [0, H, 1], [W, H, 1]], float).T
    seen = np.concatenate([(np.linalg.inv(m) @ corners)[:2].T for m in cameras])
    lo, hi = seen.min(0) - 2, seen.max(0) + 2
    ih, iw = img.shape[:2]
    scale = max((hi[0] - lo[0]) / iw, (hi[1] - lo[1]) / ih)
    slack = np.array([iw, ih]) * scale - (hi - lo)
    origin = lo - rng.uniform(0, 1, size=2) * slack
    img = np.ascontiguousarray(img[:, ::-1]) if rng.random() < 0.5 else img
    tint = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    img = img.astype(np.float32) * tint
    img = _clutter(rng, cfg, img, scale, sources, sprite_library())
    return name, np.clip(img, 0, 255).astype(np.uint8), _affine(scale, origin)


def _clutter(rng, cfg: SynthConfig, img: np.ndarray, scale: float, sources, sprites) -> np.ndarray:
    """The background with still, unannotated objects on it: real objects' outlines (one frame of a random
    track) wearing any photographed texture, the targets' included, with soft edges and shading.

    A scene of one photograph and a few salient pasted objects lets a model find the targets by what stands out
    rather than by matching them to the memory; real scenes are full of objects. ``scale`` maps the photograph's
    pixels to the scene's, so clutter is sized like the targets (``cfg.object_size`` of the frame height).
    """
    n = int(rng.integers(cfg.clutter // 2, cfg.clutter + 1)) if cfg.clutter else 0
    ih, iw = img.shape[:2]
    for _ in range(n):
        src = sources[int(rng.integers(len(sources)))]
        present = np.flatnonzero(src.areas > 0.002 * src.size[0] * src.size[1])
        if not len(present):
            continue
        mask = src.window(int(rng.choice(present)), 1, 1)[0]
        if rng.random() < 0.5:
            mask = mask[:, ::-1]
        ys, xs = np.nonzero(mask)
        extent = rng.uniform(*cfg.object_size) * cfg.height / scale  # photograph pixels
        k = extent / _extent(mask)
        centre = np.array([rng.uniform(0, iw), rng.uniform(0, ih)])
        img_to_mask = np.linalg.inv(_affine(k, centre - k * np.array([xs.mean(), ys.mean()])))
        alpha = _warp(_mask_image(mask), img_to_mask, ih, iw) / 255
        tex = sprites[int(rng.integers(len(sprites)))]
        th, tw = tex.rgb.shape[:2]
        tk = tex.extent / extent
        rgb = _warp(_mirrored(tex), _affine(tk, 1.5 * np.array([tw, th]) - tk * centre), ih, iw)
        inner = ndimage.gaussian_filter(alpha, sigma=max(1.0, 0.04 * extent))
        rgb = rgb * (0.7 + 0.3 * inner)[..., None] * rng.uniform(0.8, 1.2, size=3).astype(np.float32)
        img = img * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return img


def _render_layer(layer: _Layer, t: int, camera: np.ndarray, H: int, W: int, blur: float,
                  shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alpha [H, W], rgb [H, W, 3], sharp alpha [H, W])`` of a layer at frame ``t``.

    Motion blur averages samples spread over ``blur`` times ``shift`` (the layer's motion in frame pixels since
    the last frame); the sharp alpha (no blur) gives the annotation.
    """
    frame_to_track = np.linalg.inv(camera @ _affine(layer.scale, layer.offset[t]))
    # the texture rides on the track's centroid, scaled to the object's first-frame extent
    sp = layer.texture
    k = sp.extent / (layer.extent * layer.growth[t])
    centre = 1.5 * np.array([sp.rgb.shape[1], sp.rgb.shape[0]])  # of the mirrored texture
    track_to_tex = _affine(k, centre - k * layer.centroid[t])
    track = _mask_image(layer.track[t])
    texture = layer.texture_image
    sharp = _warp(track, frame_to_track, H, W) / 255
    length = float(np.hypot(*shift)) * blur
    n = 1 if length < 1.0 else min(5, int(math.ceil(length / 2)) + 1)
    alpha = np.zeros((H, W), np.float32)
    rgb = np.zeros((H, W, 3), np.float32)
    for i in range(n):
        d = shift * blur * (i / (n - 1) - 0.5) if n > 1 else np.zeros(2)
        m = frame_to_track @ _affine(1.0, -d)  # the object displaced by d along its motion
        a = sharp if n == 1 else _warp(track, m, H, W) / 255
        alpha += a / n
        rgb += _warp(texture, track_to_tex @ m, H, W) * (a / n)[..., None]
    rgb = rgb / np.maximum(alpha, 1e-6)[..., None]
    # shading: darker towards the border (a flat cut-out is what real objects are not)
    inner = ndimage.gaussian_filter(alpha, sigma=max(1.0, 0.04 * layer.scale * layer.extent))
    rgb = rgb * (0.7 + 0.3 * inner)[..., None] * layer.gain
    return alpha, rgb, sharp


def render_tracks_video(cfg: SynthConfig, rng: np.random.Generator) -> tuple[str, list, list, dict[str, Any]]:
    """Render one video of the ``tracks`` benchmark.

    Returns:
        ``(name suffix, frames [H, W, 3] uint8 (before JPEG), masks [H, W] uint8 ids, info)``.
    """
    H, W, T = cfg.height, cfg.width, cfg.frames
    sources = track_sources(cfg.tracks_root or DEFAULT_TRACKS_ROOT)
    sprites = sprite_library()
    for _attempt in range(50):
        n_obj = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
        families = sorted({s.family for s in sprites})
        textures = []
        for fam in rng.permutation(families)[:n_obj]:  # distinct looks: targets differ from each other
            members = [s for s in sprites if s.family == fam]
            textures.append(members[int(rng.integers(len(members)))])
        used: set[str] = set()
        layers: list[_Layer] = []
        info: dict[str, Any] = {"objects": {}, "distractor": None}
        for k, tex in enumerate(textures, start=1):
            picked = _pick_track(rng, sources, used, T)
            if picked is None:
                break
            src, stride, start = picked
            used.add(src.sequence)
            layer = _layer(rng, cfg, src, stride, start, tex, k)
            leave = bool(rng.random() < cfg.leave_prob)
            layers.append(layer)
            info["objects"][str(k)] = {"track": src.name, "start": start, "stride": stride, "texture": tex.name,
                                       "leaves_frame": leave}
        if len(layers) < n_obj:
            continue
        for layer in layers[1:]:
            if rng.random() < cfg.occlusion_prob:
                other = layers[int(rng.integers(len(layers)))]
                if other is not layer:
                    _cross(layer, other, int(rng.integers(T // 3, max(T // 3 + 1, 2 * T // 3))))
        for layer in layers:
            if info["objects"][str(layer.label)]["leaves_frame"]:
                _leave_and_return(rng, layer, cfg)
        if rng.random() < cfg.distractor_prob:
            target = layers[int(rng.integers(len(layers)))]
            picked = _pick_track(rng, sources, used, T)
            if picked is not None:
                src, stride, start = picked
                size = target.scale * target.extent * rng.uniform(0.85, 1.15)
                d = _layer(rng, cfg, src, stride, start, target.texture, 0, extent=size)
                cross_at = int(rng.integers(max(1, T // 3), max(2, 3 * T // 4)))
                _cross(d, target, cross_at)
                d.gain = (1.0 + rng.uniform(-cfg.distractor_jitter, cfg.distractor_jitter, 3)).astype(np.float32)
                layers.append(d)
                info["distractor"] = {"copies_object": target.label, "track": src.name, "crosses_at": cross_at}
        order = rng.permutation(len(layers))
        layers = [layers[i] for i in order]
        cameras = _camera(rng, cfg)
        # every target well visible in the first frame
        labels0 = np.zeros((H, W), np.uint8)
        alone = {}
        for layer in layers:
            a = _warp(_mask_image(layer.track[0]), np.linalg.inv(cameras[0] @ _affine(layer.scale, layer.offset[0])),
                      H, W) / 255
            labels0[a >= 0.5] = layer.label
            alone[layer.label] = int((a >= 0.5).sum())
        if all(alone.get(k, 0) >= max(0.004 * H * W, 20) and (labels0 == k).sum() >= 0.6 * alone[k]
               for k in range(1, n_obj + 1)):
            break
    bg_name, bg, bg_to_scene = _background(rng, cfg, {layer.texture.family for layer in layers}, cameras,
                                           sources)
    info["background"] = bg_name
    u = np.linspace(0, 1, T)
    flicker = 1 + cfg.illumination * np.sin(2 * math.pi * rng.uniform(0.5, 2) * u + rng.uniform(0, 2 * math.pi))
    turn = rng.uniform(0, 2 * math.pi) + rng.uniform(-1.5, 1.5) * u
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xn, yn = 2 * xx / W - 1, 2 * yy / H - 1
    frames, masks = [], []
    last = {id(layer): None for layer in layers}
    background = Image.fromarray(bg, mode="RGB")
    for t in range(T):
        frame = _warp(background, np.linalg.inv(cameras[t] @ bg_to_scene), H, W)
        labels = np.zeros((H, W), np.uint8)
        for layer in layers:
            here = (cameras[t] @ np.append(layer.scene_centre(t), 1.0))[:2]
            shift = here - last[id(layer)] if last[id(layer)] is not None else np.zeros(2)
            last[id(layer)] = here
            alpha, rgb, sharp = _render_layer(layer, t, cameras[t], H, W, cfg.motion_blur, shift)
            frame = frame * (1 - alpha[..., None]) + rgb * alpha[..., None]
            labels[sharp >= 0.5] = layer.label
        light = flicker[t] * (1 + cfg.illumination * (np.cos(turn[t]) * xn + np.sin(turn[t]) * yn))
        frame = frame * light[..., None] + rng.normal(0, cfg.noise, size=frame.shape).astype(np.float32)
        frames.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        masks.append(labels)
    first = next(layer for layer in layers if layer.label == 1)
    info["num_objects"] = len(info["objects"])
    return first.source.split("/")[0], frames, masks, info
