"""Write BENCHMARKS.md from benchmarks/results/*.json (each section names its command, machine and date)."""

from __future__ import annotations

import json

from .common import RESULTS, ROOT

ORDER = ["seeds", "fps", "eval_speed", "gc_speed", "cycle_erf_speed", "erf_throughput", "dtype_agreement",
         "train_step", "xmem_speed",
         "dashboard_latency", "long_video", "real_video", "real_video_tracks", "real_video_variants",
         "real_video_two_stage", "real_video_lite0_clips9", "real_video_lite0_seed1",
         "memory_probe"]


def _head(r: dict, title: str) -> list[str]:
    m = r["machine"]
    return [f"## {title}", "", f"Command: `{r['command'].strip()}` (date {r['date']}; {m['cpu']}, "
            f"{m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}, Python {m['python']})", ""]


def _ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def seeds(r: dict) -> list[str]:
    out = _head(r, "Trained models: J&F on the synthetic val split (issue: training)")
    out += ["Each run: `erfkit train --data data/synth --preset cpu-tiny --mode <mode> --seed <S>` (40 epochs); each "
            "score: `erfkit segment --checkpoint <run> --data data/synth --out <dir> --eval` (20 videos, mem "
            "strategy, no gradient correction); the floor: `erfkit segment --copy-first --data data/synth --out <dir> "
            "--eval`. Seed 0 is what ships in `checkpoints/` (`make checkpoints` retrains it).", "",
            "| run | seed | J&F | J | F | training time (s) |", "|---|---|---|---|---|---|"]
    for name, v in sorted(r["runs"].items()):
        sc = v["scores"]
        out.append(f"| `{name}` | {v['seed']} | {sc['J&F-Mean']:.3f} | {sc['J-Mean']:.3f} | {sc['F-Mean']:.3f} | "
                   f"{v['train_seconds']:.0f} |")
    f = r["floor"]
    out.append(f"| copy the first-frame mask (floor) | - | {f['J&F-Mean']:.3f} | {f['J-Mean']:.3f} | "
               f"{f['F-Mean']:.3f} | - |")
    out += ["", "| mode | seeds | J&F mean | J&F std |", "|---|---|---|---|"]
    for mode, v in r["per_mode"].items():
        std = f"{v['std']:.3f}" if v["seeds"] > 1 else "- (one seed)"
        out.append(f"| {mode} | {v['seeds']} | {v['mean']:.3f} | {std} |")
    paired = r.get("cyclic_minus_baseline")
    if paired:
        each = ", ".join(f"seed {s}: {g:+.3f}" for s, g in paired["gains"].items())
        out += ["", f"Cyclic minus baseline, seed by seed (same seed, data order and budget): {each}; mean "
                f"{paired['mean']:+.3f}" + (f", std {paired['std']:.3f}." if len(paired["gains"]) > 1 else ".")]
    out += ["", "Training times depend on the thread count and on what else shared the machine; they do not "
            "compare across runs."]
    return out


def fps(r: dict) -> list[str]:
    out = _head(r, "Inference speed (issue: foundation)")
    out += ["Offline inference, `mem` strategy, frames decoded beforehand, median of several passes.", "",
            "| model | frames | frame size | objects | frames/s |", "|---|---|---|---|---|"]
    for name, v in r["presets"].items():
        out.append(f"| {name} | {v['frames']} | {v['size'][0]}x{v['size'][1]} | {v['objects']} | {v['fps']:.2f} |")
    return out


def eval_speed(r: dict) -> list[str]:
    s = r["seconds"]
    out = _head(r, "Evaluator speed (issue: evaluator)")
    out += [f"DAVIS 2017 val-sized input: {r['sequences']} sequences, {r['frames']} frames, {r['objects']} "
            "objects; median of 3 runs each, side by side.", "",
            "| evaluator | processes | seconds | J&F |", "|---|---|---|---|"]
    for k in ("erfkit", "vos-benchmark", "official algorithm"):
        out.append(f"| {k} | {r['workers'][k]} | {s[k]:.2f} | {r['jf'][k]:.4f} |")
    out += ["", f"erfkit is {r['speedup_vs_official_algorithm']:.1f}x faster than the official toolkit's algorithm "
            f"and {r['speedup_vs_vos_benchmark']:.1f}x faster than vos-benchmark. Targets: under 5 s "
            f"({_ok(s['erfkit'] < 5)}), at least 10x the official toolkit "
            f"({_ok(r['speedup_vs_official_algorithm'] >= 10)}), faster than vos-benchmark "
            f"({_ok(s['erfkit'] < s['vos-benchmark'])}). The official toolkit is not on PyPI: its computation is "
            "re-implemented the way it does it (one process, PIL into float64 stacks, float64 object separation, F "
            "frame by frame with cv2.dilate); erfkit and it give "
            "the same J&F. vos-benchmark's J&F differs by its documented rules (docs/evaluation.md)."]
    return out


def gc_speed(r: dict) -> list[str]:
    out = _head(r, "Gradient correction speed (issue: gradient correction)")
    out += ["N = 10 correction steps every K = 5 frames; side by side in one run (medians).", "",
            "| model | frames | offline s | GC s | slowdown (target <= 3.3) | floor s | GC / floor (target <= 1.10) "
            "| naive GC s | naive / GC |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in r["models"].items():
        s = v["seconds"]
        out.append(f"| {name} | {v['frames']} ({v['corrected_frames']} corrected) | {s['offline']:.2f} | "
                   f"{s['gc']:.2f} | {v['slowdown']:.2f} ({_ok(v['slowdown'] <= 3.3)}) | {v['floor_seconds']:.2f} | "
                   f"{v['gc_over_floor']:.3f} ({_ok(v['gc_over_floor'] <= 1.10)}) | {s['naive_gc']:.2f} | "
                   f"{v['naive_over_gc']:.2f} |")
    out += ["", "Floor = offline time + corrected frames x N x (one forward + backward of memorize + "
            "segment-from-cached-query, measured). Naive GC re-encodes frame 1 and computes weight gradients at "
            "every step. Models: " + "; ".join(f"{k}: {v['model']}" for k, v in r["models"].items()) + "."]
    return out


def xmem_speed(r: dict) -> list[str]:
    out = _head(r, "XMem: erfkit against XMem's own code (issue: beyond STM)")
    v, ref = r["video"], r["reference"]
    h, w = v["size"]
    out += [f"{r['model']}; float32, XMem's evaluation defaults; "
            f"`{v['sequence']}`, {v['frames']} real frames at {h}x{w}, {v['objects']} object(s), frames "
            f"{', '.join(map(str, r['memorised_frames']))} memorised. The reference: XMem's `InferenceCore` "
            f"(hkchengrex/XMem {ref['checked_commit'][:7]}, exported outside the project, patched only "
            f"`{ref['patches'][0]}`), driven as its `eval.py` does; erfkit: `VideoPredictor(model)`. "
            f"{r['repeats']} passes per side, interleaved; seconds per frame = {r['seconds_per_frame_rule']}. "
            "The floor: erfkit's network alone in the same steps (encode_key, decode, encode_value); the rest is "
            "the memory read (similarity, top-k, readout), memorising and consolidation, the same work on both "
            "sides.", "",
            "| | s / frame | network s | the rest s | frames read only | frames also memorised | frame 0 |",
            "|---|---|---|---|---|---|---|"]
    for name, label in (("reference", "XMem's InferenceCore"), ("erfkit", "erfkit")):
        sd = r["sides"][name]
        k = sd["by_kind"]
        cells = [f"{k[c]['seconds']:.3f}" if k[c]["frames"] else "-" for c in ("read", "read_and_memorised")]
        out.append(f"| {label} | {sd['seconds_per_frame']:.3f} | {sd['network_seconds_per_frame']:.3f} | "
                   f"{sd['other_seconds_per_frame']:.3f} | {cells[0]} | {cells[1]} | {sd['frame0_seconds']:.3f} |")
    out.append(f"| floor (network alone) | {r['seconds_per_frame']['floor']:.3f} | | | | | |")
    a = r["agreement"]
    out += ["", f"erfkit / reference: {r['ratio_erfkit_over_reference']:.3f} (target <= {r['target_ratio']:.2f}: "
            f"{_ok(r['ratio_erfkit_over_reference'] <= r['target_ratio'])}); erfkit / floor: "
            f"{r['erfkit_over_floor']:.3f}. Agreement (float32): max |p_erfkit - p_XMem| "
            f"{a['max_abs_diff_all_frames']:.1e} over all frames."]
    return out


def cycle_erf_speed(r: dict) -> list[str]:
    out = _head(r, "Cycle-ERF speed (issue: explanation engine)")
    out += [f"{r['reference_frames']} reference frames, {r['objects']} objects, M = {r['steps']}, "
            f"{r['size'][0]}x{r['size'][1]}, {r['model']}; medians of 3 interleaved runs.", "",
            "| implementation | seconds |", "|---|---|",
            f"| batched (batch {r['batch_size']}, cached target features) | {r['seconds']['batched']:.2f} |",
            f"| per-frame loop | {r['seconds']['loop']:.2f} |", "",
            f"Speed-up {r['speedup']:.2f}x (target >= 2: {_ok(r['speedup'] >= 2)}). Largest float32 difference "
            f"between the two maps: {r['float32_max_abs_difference']:.2e} (maps reach {r['map_max']:.2f}); in float64 "
            "they agree within 1e-5 (tests/explain/test_cycle_erf.py) - in float32 a 1e-7 difference can flip a "
            "max-pool or ReLU decision after a few large steps."]
    return out


def erf_throughput(r: dict) -> list[str]:
    out = _head(r, "Cycle-ERF throughput: 1 and 2 processes, and the floor (issue: dataset-scale explanations)")
    out += [f"M = {r['steps']} steps, batches of {r['batch_size']}, float32, {r['device']}; reference frames of the "
            "benchmark video letterboxed to 240x427, target its first frame. 2 processes: one core each, each half "
            "of the frames, started together (what `torchrun --nproc-per-node 2 -m erfkit erf` does with its units). "
            "Floor: the same M forward and backward passes of the memory path alone (memorize from the cached stem, "
            "decode from the cached query features, gradient of a plain sum), timed alone. Medians of the runs (column runs).", "",
            "| model | frames | runs | 1 process fps | 2 processes fps | floor fps | 1 process / floor (target <= 1.15) |",
            "|---|---|---|---|---|---|---|"]
    for preset, v in r["models"].items():
        two = f"{v['fps_2']:.3g}" if "fps_2" in v else "-"
        out.append(f"| {preset} ({v['model']}) | {v['frames']} | {len(v['all_1'])} | {v['fps_1']:.3g} | {two} | "
                   f"{v['fps_floor']:.3g} | {v['ratio_to_floor']:.3f} ({_ok(v['ratio_to_floor'] <= 1.15)}) |")
    runs = {(v["command"], v["date"]) for v in r["models"].values() if "command" in v}
    if len(runs) > 1:  # models measured by separate runs (--models): each run's command and date
        out += [""] + [f"- `{v['command']}` ({v['date']}): {preset}" for preset, v in r["models"].items()
                       if "command" in v]
    return out


def train_step(r: dict) -> list[str]:
    out = _head(r, "Training step cost (issue: training)")
    out += ["Forward + backward + Adam on the same clip(s), the two modes alternating; medians. `default`: glibc's "
            "allocator settings; `kept`: freed buffers kept for reuse, as `erfkit train` does "
            "(`erfkit.device.keep_freed_memory`); each in its own process. The floor is the ratio a step with no "
            "overhead would have: the parts a cyclic step adds (one memory encoding, one query encoding, one decode "
            "per later frame), each timed alone, over the parts of a baseline step.", "",
            "| model | allocator | clips x objects | size | baseline s | cyclic s | cyclic / baseline (target <= 1.6) "
            "| floor |", "|---|---|---|---|---|---|---|---|"]
    for allocator, models in r["allocators"].items():
        for name, v in models.items():
            out.append(f"| {name} | {allocator} | {v['clips']} x {v['objects']} | {v['size'][0]}x{v['size'][1]} | "
                       f"{v['seconds']['baseline']:.3f} | {v['seconds']['cyclic']:.3f} | {v['ratio']:.2f} "
                       f"({_ok(v['ratio'] <= 1.6)}) | {v['floor']:.2f} |")
    return out


def dashboard_latency(r: dict) -> list[str]:
    out = _head(r, "Dashboard responsiveness (issue: dashboard)")
    runs = [(name, r[f"{key}_run"]) for name, key in (("stored frames", "synthetic"), ("real video", "real"))
            if f"{key}_run" in r]
    if runs:
        out += ["Parts: " + "; ".join(f"{name}: `{v['command']}` ({v['date']})" for name, v in runs) + ".", ""]
    ms = [1000 * t for t in r["move_seconds"]]
    out += [f"Atlases of {r['atlas_frames']} frames of `{r['sequence']}` for both shipped checkpoints (built in "
            f"{r['atlas_build_seconds']:.0f} s); the app run headless (AppTest) re-renders after each frame move, "
            "timed once the background worker is done with the video's segmentation and the first view's "
            "neighbouring frames.", "",
            f"Median {r['median_ms']:.0f} ms over {len(ms)} moves (min {min(ms):.0f}, max {max(ms):.0f}); target under "
            f"300 ms: {_ok(r['median_ms'] < 300)}. This is the script's server-side run; the browser's drawing comes on "
            "top."]
    for load, pairs in r.get("real_video", {}).items():
        out += ["", f"**Real video, {load}.** All {_first(pairs)['steps']['frames']} frames of DAVIS 2017 val "
                f"`{_first(pairs)['steps']['sequence']}` (480x854), nothing stored; each pair at its checkpoints' input "
                "size. Chromium: `erfkit dashboard` started fresh, seconds from opening the page to the first view "
                "(both masks of frame 1 and cycle-ERF A, B, A - B), and from the arrow key (once the page's run is "
                "over, the worker segmenting the rest of the video) to the next frame's masks and large panels. "
                "Steps: the same computing timed without the page (`Comparison`); the floor is cycle-ERF's M "
                "passes alone, A + B, computed as the page computes them (since 2026-12-06 evening: A and B at once, "
                "one thread each).", "",
                "| pair | input | Chromium: first view (target 20 s) | Chromium: new frame (target 10 s) | "
                "Chromium: new frame, all panels | first view, steps | floor | rest of the segmentation (J&F, "
                "timeline) |", "|---|---|---|---|---|---|---|---|"]
        for name, v in pairs.items():
            b, st = v["browser"], v["steps"]
            out.append(f"| {name} | {st['size'].split()[0]} | {b['first_view']:.1f} ({_ok(b['first_view'] <= 20)}) | "
                       f"{b['new_frame']:.1f} ({_ok(b['new_frame'] <= 10)}) | {b['new_frame_all_panels']:.1f} | "
                       f"{st['first_view']:.1f} | {st['first_view_floor']:.1f} | {st['rest_segmented']:.1f} |")
        out += ["", "New frames without the page, seconds from the request:", "",
                "| pair | frame | both masks | cycle-ERF A, B, A - B | all panels | floor |", "|---|---|---|---|---|---|"]
        for name, v in pairs.items():
            out += [f"| {name} | {n['frame']} | {n['first_panel']:.2f} | {n['large_method']:.1f} | "
                    f"{n['all_panels']:.1f} | {n['floor']:.1f} |" for n in v["steps"]["new"]]
        for name, v in pairs.items():
            st = v["steps"]
            stored = ", ".join(f"{1000 * t:.0f}" for t in st["stored_page_seconds"])
            out += ["", f"{name}: a change of the saliency method recomputes {', '.join(st['switch_recomputed'])} "
                    f"only ({st['switch_seconds']:.1f} s for the frame); a frame computed ahead by the worker shows "
                    f"in {st['ahead_seconds']:.2f} s; a stored frame through the page (AppTest): {stored} ms "
                    f"(median {1000 * st['stored_median']:.0f} ms; target under 1 s: {_ok(st['stored_median'] < 1)})."]
    return out


def _first(d: dict) -> dict:
    return next(iter(d.values()))


def dtype_agreement(r: dict) -> list[str]:
    out = _head(r, "bfloat16 against float32 maps (issue: dataset scale)")
    s = r["seconds"]
    out += [f"The atlas of `{r['sequence']}` ({r['frames']} frames; cycle-ERF M = 50 and both classic ERFs; "
            f"{r['model']}) built in float32 and under bfloat16 autocast (`erfkit erf --dtype bfloat16`) on "
            f"{r['device']}; every map of every frame and object compared.", "",
            "| map | Spearman (median) | Spearman (min) | relative L1 (median) | top-10% overlap (median) | maps |",
            "|---|---|---|---|---|---|"]
    for key, v in r["maps"].items():
        out.append(f"| {key} | {v['spearman_median']:.3f} | {v['spearman_min']:.3f} | {v['relative_l1_median']:.3f} "
                   f"| {v['top10_overlap_median']:.3f} | {v['maps']} |")
    out += ["", f"Build time: float32 {s['float32']:.1f} s, bfloat16 {s['bfloat16']:.1f} s "
            f"({s['bfloat16'] / s['float32']:.1f}x)."]
    if r["device"] == "cpu":
        out += ["On a CPU bfloat16 is emulated: slower, and meant for GPUs. No GPU was lent to this run, so the "
                "GPU agreement and speed are not measured here (`python -m benchmarks.dtype_agreement --device "
                "cuda`)."]
    return out


def long_video(r: dict) -> list[str]:
    out = _head(r, "Long video, bounded memory (issue: reliability)")
    out += [f"`erfkit segment` on a {r['size'][0]}x{r['size'][1]} video (stm-tiny-cyclic), peak resident memory of "
            "the child process.", "", "| frames | memory cap | peak RSS (MiB) | seconds |", "|---|---|---|---|"]
    for v in r["runs"]:
        out.append(f"| {v['frames']} | {v['memory_cap'] or 'none'} | {v['peak_rss_mib']:.0f} | {v['seconds']:.1f} |")
    out += ["", f"With the cap, 1000 frames use {r['capped_growth']:.2f}x the memory of 100 frames: bounded; frames "
            "are streamed one at a time."]
    return out


def real_video(r: dict, title: str = "Real videos: J&F against pseudo ground truth (OSVOS)") -> list[str]:
    out = _head(r, title)
    seqs = list(r["sequences"])
    synth = all("synthetic" in v for v in r["runs"].values())
    ruled = all("ruled" in v for v in r["runs"].values())
    out += ["**Pseudo ground truth (OSVOS), not DAVIS scores.** Two real DAVIS 2017 val videos (" +
            ", ".join(f"`{s}`, {n} frames" for s, n in r["sequences"].items()) +
            f", {r['frame_size'][0]}x{r['frame_size'][1]}) of which only the first frame's ground truth is "
            "available; every later frame is scored against the OSVOS mask of that frame (a method's prediction: "
            "realistic, not exact). Do not compare these numbers with papers. Each run: `erfkit segment "
            "--checkpoint <ckpt> --data <root> --out <dir> --size checkpoint|native [--gc-iters 10]` (mem strategy); "
            "the floor: `erfkit segment --copy-first ...`; first and last frames excluded, as the protocol does.", "",
            "| setting | network input (run manifest) | " + " | ".join(f"J&F `{s}`" for s in seqs) + " | J&F mean | J mean | F mean |"
            + (" J&F mean, pseudo-truth rule | " + " | ".join(f"J `{s}`, rule" for s in seqs) + " |" if ruled else "")
            + (" synthetic val J&F |" if synth else ""),
            "|---|---|" + "---|" * len(seqs) + "---|---|---|" + ("---|" * (1 + len(seqs)) if ruled else "")
            + ("---|" if synth else "")]
    for label, v in r["runs"].items():
        out.append(f"| {label} | {v['input_size']} | " + " | ".join(f"{v['videos'][s]['J&F']:.3f}" for s in seqs) +
                   f" | {v['mean']['J&F']:.3f} | {v['mean']['J']:.3f} | {v['mean']['F']:.3f} |" +
                   (f" {v['ruled']['mean']['J&F']:.3f} | " + " | ".join(f"{v['ruled']['videos'][s]['J']:.3f}" for s in seqs)
                    + " |" if ruled else "") +
                   (f" {v['synthetic']['J&F']:.3f} |" if synth else ""))
    if ruled:
        v = next(iter(r["runs"].values()))["ruled"]
        left = "; ".join(f"`{s}` {', '.join(f)}" for s, f in v["left_out"].items()) or "none"
        out += ["", f"Pseudo-truth rule (`erfkit.evaluation.PSEUDO_TRUTH_RULE`): {v['rule']}. Left out: {left}."]
    if synth:
        v = next(iter(r["runs"].values()))["synthetic"]
        out += ["", f"Synthetic val J&F: the same setting on the val split of `{v['root']}` "
                f"({v['videos']} videos, ground truth, from the command's `--synthetic`)."]
    return out


def real_video_tracks(r: dict) -> list[str]:
    return real_video(r, "The default pair (stm-lite0) on real video and on the tracks val split (issue: models that "
                         "track real video, pretrained encoders)")


def real_video_variants(r: dict) -> list[str]:
    return real_video(r, "Real videos: the trainings tried for models that track (issue: models that track real video)")


def real_video_two_stage(r: dict) -> list[str]:
    return real_video(r, "Real videos: the cyclic still-image-stage-first run at the end of its budget (issue: models that "
                         "track real video)")


def real_video_lite0_clips9(r: dict) -> list[str]:
    return real_video(r, "Real videos: the default baseline's second stage with 9-frame clips, epoch by epoch (issue: "
                         "models that track real video)")


def real_video_lite0_seed1(r: dict) -> list[str]:
    return real_video(r, "Real videos: the default pair's second stage with seed 1 (issue: models that track real "
                         "video)")


def memory_probe(r: dict) -> list[str]:
    out = _head(r, "Memory probe: does a checkpoint find an object in the frame it has memorised?")
    seqs = list(next(iter(r["checkpoints"].values()))["real"])
    out += ["Memory: frame 0 with its ground-truth mask; query: frame 0 again (`memory=\"first\"`, the checkpoint's "
            "input size). A model that reads its memory by matching finds every object (J near 1). Real: the two "
            "real DAVIS 2017 val videos (frame 0's real ground truth). Synthetic: every object of the first "
            f"{len(r['videos'])} val videos of `{r['data']}`.", "",
            "| checkpoint | " + " | ".join(f"J `{s}`" for s in seqs) + " | synthetic: mean J | synthetic: objects "
            "with J > 0.5 |", "|---|" + "---|" * len(seqs) + "---|---|"]
    for name, v in r["checkpoints"].items():
        sy = v["synthetic"]
        out.append(f"| `{name}` | " + " | ".join(f"{v['real'][s]:.2f}" for s in seqs) +
                   f" | {sy['mean_J']:.2f} | {sy['share_above_half']:.0%} of {sy['objects']} |")
    read = {name: v for name, v in r["checkpoints"].items() if "reads_synthetic" in v}
    if read:
        out += ["", "Where the query cells read (same probe, first object of each video): the read weight that query "
                "cells inside the object put on the object's memory cells, and that cells outside it put there. "
                "Matching: the first near 1, the second near 0; a read that ignores the image puts the object's "
                "share of the cells (area) in both.", "",
                "| checkpoint | " + " | ".join(f"`{s}`: inside / outside (area)" for s in seqs) +
                " | synthetic: inside / outside (area, objects) |", "|---|" + "---|" * len(seqs) + "---|"]
        for name, v in read.items():
            cols = [v["reads_real"][s] for s in seqs] + [v["reads_synthetic"]]
            cells = [f"{c['object_reads_object']:.2f} / {c['background_reads_object']:.2f} ({c['area']:.2f}" +
                     (f", {c['objects']})" if "objects" in c else ")") for c in cols]
            out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parts = ["# Benchmarks", "",
             "Every number below was produced by the command named in its section (`python -m benchmarks.<name>`; "
             "`make bench` runs them all and rewrites this file). Ratios are measured side by side in one run; "
             "timings are medians. The machine is shared and noisy.", ""]
    for name in ORDER:
        p = RESULTS / f"{name}.json"
        if p.is_file():
            parts += globals()[name](json.loads(p.read_text())) + [""]
    extra = ROOT / "benchmarks" / "results" / "extra.md"
    if extra.is_file():
        parts += [extra.read_text()]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts).rstrip() + "\n")
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
