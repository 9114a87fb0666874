"""XMem's seconds per frame in erfkit against XMem's own code, side by side in one run, and the floor.

    python -m benchmarks.xmem_speed --reference /work/scratch/xmem-ref                       # 30 frames, 480x854
    python -m benchmarks.xmem_speed --reference DIR --frames 6 --size 240x432 --repeats 1   # a quick check

**The reference** is XMem's public code (hkchengrex/XMem; checked with commit
f3b841d50df058910bbf690229ddc15fb1aef7d6), exported into a folder OUTSIDE the
project, never copied into it::

    git clone https://github.com/hkchengrex/XMem xmem-ref          # or: git --git-dir=<mirror> archive HEAD | tar -x -C xmem-ref
    sed -i 's/pretrained=True/pretrained=False/' xmem-ref/model/modules.py

That one line (two calls in ``model/modules.py``: ``resnet.resnet18(...)`` of
the value encoder, ``resnet.resnet50(...)`` of the key encoder) is the only
patch: XMem's ResNets are its own (``model/resnet.py``, plain torch), and
``pretrained=True`` would download torchvision's ImageNet weights.  Nothing
else is needed on a CPU: the network, ``InferenceCore``, ``MemoryManager``,
``KVMemoryStore`` and ``MaskMapper`` never call ``.cuda()`` (only ``eval.py``
and the training code do, and neither is used here), and nothing used imports
torchvision (``eval.py``'s data readers do: the frames are read and normalised
here as they do, below).  The benchmark refuses a folder that does not look
like XMem's code, or that still has ``pretrained=True``, in one line.

**The network**: XMem's own ``XMem(config)`` with the released sizes (key
encoder ResNet-50, value encoder ResNet-18, C^k 64, C^v 512, C^h 64; 62.19 M
parameters) and random weights (seed 0): BatchNorm statistics and affine
parameters randomised mildly, and the key projection (``key_proj.key_proj``)
scaled down x1/16 so that similarities stay where XMem's top-k softmax (no
maximum subtracted) neither underflows nor turns into an argmax; speed does not
depend on the weights.  Its state dict goes to a temporary ``XMem.pth`` that
``erfkit.load_checkpoint`` loads strictly.  Both run float32 on this CPU with
torch's default threads.

**The video**: the first ``--frames`` (30) real frames of DAVIS 2017 val
``dog`` (``../shared/data/davis2017-val-real-frames``, 480x854 as XMem's
``eval.py`` runs DAVIS: its resize to a shorter side of 480 is the identity
there) and its first-frame ground truth (one object); ``--size HxW`` resizes
the frames (bilinear) and the mask (nearest) beforehand, for both.

**The two sides**, each as it is used:

* reference: ``InferenceCore(network, config)`` with the defaults of XMem's
  ``eval.py`` (top_k 30, mem_every 5, deep_update_every -1, long-term memory on,
  num_prototypes 128, T_min 5, T_max 10, LT_max 10000) and
  ``enable_long_term_count_usage`` on (``eval.py`` switches it off for videos too
  short to fill long-term memory, as this one is; on for both sides here, the
  default of erfkit's predictor), driven as ``eval.py`` drives it: the
  first-frame mask through ``MaskMapper.convert_mask`` and
  ``set_all_labels``, then ``processor.step(rgb, msk, labels, end=(last frame))``
  under ``torch.no_grad()`` (``eval.py`` disables autograd globally), ``rgb``
  the ``[3, H, W]`` frame normalised with the ImageNet mean and std in float32
  as XMem's ``VideoReader`` gives it (``ToTensor`` then ``Normalize``), built
  before the clock starts;
* erfkit: ``erfkit.VideoPredictor(model, <the same settings>)`` (an
  ``XMemPredictor``), ``step(frame, mask, end=(last frame))`` with the uint8
  ``[H, W, 3]`` frame and the index mask (its own ``torch.no_grad``).  Its step
  therefore also converts and normalises the frame, which XMem's data reader
  does outside its step (a few ms at 480p; counted against erfkit).

The clock (``time.perf_counter``) times each ``step`` call alone.  The sides
alternate over ``--repeats`` (3) passes of the whole video (reference, erfkit,
reference, erfkit, ...), after a warm-up of two frames each.  **Seconds per
frame** = for each frame 1..N-1 (frame 0, which only encodes the given mask,
is left out and reported apart) the median over the passes, averaged over the
frames; the ratio is erfkit / reference of these (target <= 1.10).

**The floor** is the network alone: during the same steps, the time spent in
erfkit's ``model.encode_key`` (every frame), ``model.decode`` (every frame
after the first) and ``model.encode_value`` (memorised frames: every 5th) is
summed (timers around those three calls; microseconds of overhead), i.e. the
step minus XMem's memory bookkeeping (the read, top-k, memorising,
consolidation, the given mask, padding).  The same is measured in the reference
(``network.encode_key``, ``network.segment``, ``network.encode_value``), so
each side's step splits into network + the rest.

**Agreement**: the maximum absolute difference of the two sides' probabilities
on the last frame (float32; and the maximum over all frames), first pass.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .common import ROOT, save

SHARED = Path(os.environ.get("ERFKIT_SHARED") or ROOT.parent / "shared") / "data"  # as tests/conftest.py
FRAMES = SHARED / "davis2017-val-real-frames"
CHECKED_COMMIT = "f3b841d50df058910bbf690229ddc15fb1aef7d6"
#: the defaults of XMem's eval.py, and erfkit's XMemMemoryConfig (enable_long_term_count_usage: see the docstring)
SETTINGS = dict(top_k=30, mem_every=5, deep_update_every=-1, enable_long_term=True, enable_long_term_count_usage=True,
                num_prototypes=128, min_mid_term_frames=5, max_mid_term_frames=10, max_long_term_elements=10000)
KEY_SCALE = 1 / 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # XMem's dataset/range_transform.py
IMAGENET_STD = (0.229, 0.224, 0.225)
#: files of XMem's code this benchmark uses; a --reference without them is not XMem's code
NEEDED = ("model/network.py", "model/modules.py", "model/resnet.py", "model/memory_util.py", "model/aggregate.py",
          "inference/inference_core.py", "inference/memory_manager.py", "inference/kv_memory_store.py",
          "inference/data/mask_mapper.py", "dataset/util.py", "util/tensor_util.py")
TOP_LEVEL = ("model", "inference", "dataset", "util")  # XMem's packages, imported from the reference folder


# ----------------------------------------------------------------- the reference
def reference_code(folder: str | None) -> tuple[Path, dict[str, Any]]:
    """XMem's folder, its packages importable (first on sys.path), and what identifies it; one-line SystemExit else."""
    if not folder:
        raise SystemExit("xmem_speed: --reference DIR is required: a folder holding XMem's public code "
                         "(github.com/hkchengrex/XMem, patched as this file's docstring says)")
    ref = Path(folder).expanduser().resolve()
    if not ref.is_dir():
        raise SystemExit(f"xmem_speed: --reference {folder}: no such folder")
    missing = [f for f in NEEDED if not (ref / f).is_file()]
    if missing or "class XMem(" not in (ref / "model/network.py").read_text(errors="replace"):
        raise SystemExit(f"xmem_speed: --reference {folder} does not look like XMem's code "
                         f"(lacks {', '.join(missing) or 'class XMem in model/network.py'})")
    if "pretrained=True" in (ref / "model/modules.py").read_text(errors="replace"):
        raise SystemExit(f"xmem_speed: {ref}/model/modules.py builds its ResNets with pretrained=True (a download): "
                         f"set pretrained=False there (sed -i 's/pretrained=True/pretrained=False/' model/modules.py)")
    clash = [m for m in TOP_LEVEL if m in sys.modules
             and not str(getattr(sys.modules[m], "__file__", "") or "").startswith(str(ref))]
    if clash:
        raise SystemExit(f"xmem_speed: modules {clash} are already imported from elsewhere; XMem's code needs the names")
    sys.path.insert(0, str(ref))
    digest = hashlib.sha256()
    for f in NEEDED:
        digest.update(f.encode() + b"\0" + (ref / f).read_bytes())
    commit = None
    if (ref / ".git").exists():  # a clone (an exported tree has no commit; CHECKED_COMMIT is the one checked)
        try:
            commit = subprocess.run(["git", "-C", str(ref), "rev-parse", "HEAD"], capture_output=True, text=True,
                                    check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return ref, {"path": str(ref), "git_commit": commit, "sha256_of_used_files": digest.hexdigest()}


def reference_network(seed: int = 0) -> torch.nn.Module:
    """XMem's network from XMem's code, released sizes, random weights (see the docstring)."""
    XMem = importlib.import_module("model.network").XMem
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the sizes it picks
        net = XMem({"key_dim": 64, "value_dim": 512, "hidden_dim": 64, "single_object": False}).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.75 + 0.5 * torch.rand(n, generator=g))
                m.weight.copy_(1 + 0.1 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
        net.key_proj.key_proj.weight.mul_(KEY_SCALE)
        net.key_proj.key_proj.bias.mul_(KEY_SCALE)
    return net


# ---------------------------------------------------------------------- frames
def read_video(sequence: str, n: int, size: tuple[int, int] | None) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` frames ``[H, W, 3]`` uint8 and the first-frame index mask ``[H, W]`` uint8 (resized if asked)."""
    jpgs = sorted((FRAMES / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
    gt = FRAMES / "Annotations" / "480p" / sequence / "00000.png"
    if not jpgs or not gt.is_file():
        raise SystemExit(f"xmem_speed: no frames or first-frame mask of {sequence!r} under {FRAMES}")
    if n > len(jpgs):
        raise SystemExit(f"xmem_speed: --frames {n}: {sequence} has {len(jpgs)} frames")
    frames, mask = [Image.open(p).convert("RGB") for p in jpgs[:n]], Image.open(gt).convert("P")
    if size is not None:
        frames = [f.resize(size[::-1], Image.BILINEAR) for f in frames]
        mask = mask.resize(size[::-1], Image.NEAREST)
    return [np.asarray(f, dtype=np.uint8) for f in frames], np.array(mask, dtype=np.uint8)


def normalised(frame: np.ndarray) -> torch.Tensor:
    """``[3, H, W]`` float32 as XMem's VideoReader gives it: ToTensor (/255), then Normalize(ImageNet mean, std)."""
    x = torch.from_numpy(frame.copy()).permute(2, 0, 1).contiguous().float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return x.sub_(mean).div_(std)


# --------------------------------------------------------------------- timing
class NetworkClock:
    """Sums the wall time spent in some methods of one object (wrapped on the instance; ``close`` unwraps)."""

    def __init__(self, obj: Any, names: tuple[str, ...]):
        self.obj, self.names, self.total, self._depth = obj, names, 0.0, 0
        for name in names:
            setattr(obj, name, self._timed(getattr(obj, name)))

    def _timed(self, fn):
        def timed(*args, **kwargs):
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.total += time.perf_counter() - t0
        return timed

    def close(self) -> None:
        for name in self.names:
            self.obj.__dict__.pop(name, None)


def run_reference(net, clock: NetworkClock, rgbs: list[torch.Tensor], mask: np.ndarray, keep: bool):
    """One pass of XMem's InferenceCore as eval.py drives it: per-frame step seconds, network seconds, outputs."""
    InferenceCore = importlib.import_module("inference.inference_core").InferenceCore
    MaskMapper = importlib.import_module("inference.data.mask_mapper").MaskMapper
    n = len(rgbs)
    steps, network, outputs = [], [], []
    with torch.no_grad():
        mapper = MaskMapper()
        processor = InferenceCore(net, config=dict(SETTINGS, hidden_dim=64))
        for ti, rgb in enumerate(rgbs):
            if ti == 0:
                msk, labels = mapper.convert_mask(mask)
                msk = torch.Tensor(msk)
                processor.set_all_labels(list(mapper.remappings.values()))
            else:
                msk, labels = None, None
            n0 = clock.total
            t0 = time.perf_counter()
            prob = processor.step(rgb, msk, labels, end=(ti == n - 1))
            steps.append(time.perf_counter() - t0)
            network.append(clock.total - n0)
            if keep:
                outputs.append(prob.clone())
    return steps, network, outputs


def run_erfkit(model, clock: NetworkClock, frames: list[np.ndarray], mask: np.ndarray, keep: bool):
    """One pass of erfkit's XMemPredictor: per-frame step seconds, network seconds, outputs, memorised frames."""
    import erfkit

    n = len(frames)
    steps, network, outputs, memorised = [], [], [], []
    predictor = erfkit.VideoPredictor(model, **SETTINGS)
    for t, frame in enumerate(frames):
        n0 = clock.total
        t0 = time.perf_counter()
        prob = predictor.step(frame, mask if t == 0 else None, end=(t == n - 1))
        steps.append(time.perf_counter() - t0)
        network.append(clock.total - n0)
        memorised.append(bool(predictor.last_plan.memorise))
        if keep:
            outputs.append(prob.clone())
    return steps, network, outputs, memorised


def per_frame(passes: list[list[float]]) -> list[float]:
    """Each frame's median over the passes."""
    return [statistics.median(times) for times in zip(*passes)]


def mean(xs: list[float]) -> float | None:
    """The mean (``None`` for no values: e.g. no memorised frame in a short run)."""
    return sum(xs) / len(xs) if xs else None


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None or text == "native":
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"xmem_speed: --size {text!r}: expected HxW, e.g. 240x432") from None
    if h < 16 or w < 16:
        raise SystemExit(f"xmem_speed: --size {text!r} is too small")
    return h, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--reference", help="folder of XMem's public code (patched as the module docstring says)")
    ap.add_argument("--frames", type=int, default=30, help="frames of the video (default 30)")
    ap.add_argument("--size", default=None, help="HxW: resize frames and mask before both (default: native 480x854)")
    ap.add_argument("--repeats", type=int, default=3, help="passes of the video per side, interleaved (default 3)")
    ap.add_argument("--sequence", default="dog", help="a video of ../shared/data/davis2017-val-real-frames")
    args = ap.parse_args()
    if args.frames < 2 or args.repeats < 1:
        raise SystemExit("xmem_speed: --frames must be >= 2 and --repeats >= 1")
    size = parse_size(args.size)
    _, ref_info = reference_code(args.reference)
    import erfkit

    frames, mask = read_video(args.sequence, args.frames, size)
    rgbs = [normalised(f) for f in frames]
    net = reference_network()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "XMem.pth"
        torch.save(net.state_dict(), path)
        model = erfkit.load_checkpoint(path)  # strict
    model.eval()
    ref_clock = NetworkClock(net, ("encode_key", "segment", "encode_value"))
    erf_clock = NetworkClock(model, ("encode_key", "decode", "encode_value"))
    objects = len([v for v in np.unique(mask) if v not in (0, 255)])

    warm = min(2, len(frames))  # not timed
    run_reference(net, ref_clock, rgbs[:warm], mask, keep=False)
    run_erfkit(model, erf_clock, frames[:warm], mask, keep=False)
    ref_steps, ref_net, erf_steps, erf_net = [], [], [], []
    for r in range(args.repeats):  # interleaved: reference, erfkit, reference, erfkit ...
        s, nt, ref_out = run_reference(net, ref_clock, rgbs, mask, keep=r == 0)
        ref_steps.append(s)
        ref_net.append(nt)
        s, nt, erf_out, memorised = run_erfkit(model, erf_clock, frames, mask, keep=r == 0)
        erf_steps.append(s)
        erf_net.append(nt)
        if r == 0:
            diffs = [float((a.float() - b.float()).abs().max()) for a, b in zip(ref_out, erf_out)]
            finite = all(bool(torch.isfinite(a).all()) for a in ref_out)
            del ref_out, erf_out
        print(f"pass {r + 1}/{args.repeats}: reference {sum(ref_steps[-1]):.2f} s, erfkit {sum(erf_steps[-1]):.2f} s "
              f"({len(frames)} frames)", flush=True)
    ref_clock.close()
    erf_clock.close()

    rest = slice(1, None)  # frame 0 (the given mask: encode key and value, no read) apart
    ref_f, erf_f = per_frame(ref_steps), per_frame(erf_steps)
    ref_nf, erf_nf = per_frame(ref_net), per_frame(erf_net)
    kinds = {"read": [t for t in range(1, len(frames)) if not memorised[t]],
             "read_and_memorised": [t for t in range(1, len(frames)) if memorised[t]]}
    sides = {"reference": (ref_f, ref_nf), "erfkit": (erf_f, erf_nf)}
    summary = {}
    for name, (st, nt) in sides.items():
        summary[name] = {
            "seconds_per_frame": mean(st[rest]), "network_seconds_per_frame": mean(nt[rest]),
            "other_seconds_per_frame": mean(st[rest]) - mean(nt[rest]), "frame0_seconds": st[0],
            "by_kind": {k: {"frames": len(ts), "seconds": mean([st[t] for t in ts]),
                            "network_seconds": mean([nt[t] for t in ts])} for k, ts in kinds.items()},
        }
    floor = summary["erfkit"]["network_seconds_per_frame"]
    ratio = summary["erfkit"]["seconds_per_frame"] / summary["reference"]["seconds_per_frame"]
    h, w = frames[0].shape[:2]

    print()
    print(f"XMem (R50 key, R18 value encoder, random weights), {args.sequence}: {len(frames)} frames at {h}x{w}, "
          f"{objects} object(s), float32, {torch.get_num_threads()} torch threads, {args.repeats} passes per side "
          f"(interleaved); seconds per frame = per-frame median over passes, averaged over frames 1..{len(frames) - 1}")
    print()
    print("| | s / frame | fps | network | rest (memory, mask, padding) | read frames | memorised frames | frame 0 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, label in (("reference", "XMem's InferenceCore"), ("erfkit", "erfkit XMemPredictor")):
        s = summary[name]
        k = s["by_kind"]
        print(f"| {label} | {s['seconds_per_frame']:.3f} | {1 / s['seconds_per_frame']:.2f} | "
              f"{s['network_seconds_per_frame']:.3f} | {s['other_seconds_per_frame']:.3f} | "
              f"{fmt(k['read']['seconds'])} | {fmt(k['read_and_memorised']['seconds'])} | {s['frame0_seconds']:.3f} |")
    print(f"| floor (erfkit's network alone) | {floor:.3f} | {1 / floor:.2f} | | | "
          f"{fmt(summary['erfkit']['by_kind']['read']['network_seconds'])} | "
          f"{fmt(summary['erfkit']['by_kind']['read_and_memorised']['network_seconds'])} | |")
    print()
    print(f"erfkit / reference: {ratio:.3f} (target <= 1.10); erfkit / floor: "
          f"{summary['erfkit']['seconds_per_frame'] / floor:.3f}; reference / floor: "
          f"{summary['reference']['seconds_per_frame'] / floor:.3f}")
    print(f"agreement (float32, first pass): max |p_erfkit - p_XMem| = {diffs[-1]:.2e} on the last frame, "
          f"{max(diffs):.2e} over all frames" + ("" if finite else "; XMem's output has NaN/inf"))
    print()

    save("xmem_speed", {
        "reference": {**ref_info, "checked_commit": CHECKED_COMMIT,
                      "patches": ["model/modules.py: pretrained=True -> pretrained=False (resnet18, resnet50)"]},
        "model": "XMem released sizes (ResNet-50 key, ResNet-18 value encoder, Ck 64, Cv 512, Ch 64), random "
                 f"weights seed 0, key projection x{KEY_SCALE}",
        "video": {"sequence": args.sequence, "frames": len(frames), "size": [h, w], "objects": objects,
                  "resized": size is not None},
        "settings": SETTINGS, "dtype": "float32", "repeats": args.repeats, "warmup_frames": warm,
        "seconds_per_frame_rule": "per-frame median over passes, averaged over frames 1..N-1 (frame 0 apart)",
        "seconds_per_frame": {"reference": summary["reference"]["seconds_per_frame"],
                              "erfkit": summary["erfkit"]["seconds_per_frame"], "floor": floor},
        "ratio_erfkit_over_reference": ratio, "target_ratio": 1.10,
        "erfkit_over_floor": summary["erfkit"]["seconds_per_frame"] / floor,
        "sides": summary,
        "agreement": {"max_abs_diff_last_frame": diffs[-1], "max_abs_diff_all_frames": max(diffs),
                      "per_frame": diffs, "reference_finite": finite},
        "memorised_frames": [t for t, m in enumerate(memorised) if m],
        "all_seconds": {"reference": ref_steps, "erfkit": erf_steps, "reference_network": ref_net,
                        "erfkit_network": erf_net},
    })


if __name__ == "__main__":
    main()
