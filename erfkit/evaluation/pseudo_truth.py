"""Which pseudo ground-truth frames to leave out of a score: a named, documented rule.

Pseudo ground truth is a method's prediction used as the reference (e.g. the OSVOS
masks of DAVIS 2017 val).  Where that method failed, its mask is not the object:
OSVOS's masks of ``dog`` frames 14, 23 and 40-49 cover 83-99 % of the frame.
Scoring against them measures OSVOS's failure, so a pseudo-truth score leaves
out every annotation whose area is implausible (:class:`PseudoTruthRule`) and says
which frames it left out.  Real ground truth is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["PseudoTruthRule", "PSEUDO_TRUTH_RULE", "implausible_frames"]


@dataclass(frozen=True)
class PseudoTruthRule:
    """An annotation is implausible when its objects cover more than ``max_frame_share`` of the
    frame, or more than ``max_median_ratio`` times the sequence's median annotated area.

    The first frame (the given mask, real ground truth) is never flagged; frames whose
    masks are empty count as zero area.  The ratio is generous on purpose: objects
    that approach the camera grow (``drift-straight``'s car reaches 5.8x its median
    area, a real motion, and 3x would drop 9 of its frames); OSVOS's failures on
    ``dog`` cover 83-99 % of the frame, far above both bounds.
    """

    max_frame_share: float = 0.5
    max_median_ratio: float = 8.0

    def describe(self) -> str:
        return (f"pseudo ground truth frames covering more than {self.max_frame_share:.0%} of the frame or "
                f"{self.max_median_ratio:g}x the sequence's median mask area are left out")

    def flag(self, areas: Sequence[int], frame_pixels: int) -> list[int]:
        """Indices (>= 1) of the implausible frames, given each frame's foreground area in pixels."""
        a = np.asarray(areas, dtype=np.float64)
        median = float(np.median(a)) if len(a) else 0.0
        bad = (a > self.max_frame_share * frame_pixels) | ((median > 0) & (a > self.max_median_ratio * median))
        return [int(i) for i in np.flatnonzero(bad) if i > 0]


#: the rule erfkit applies to pseudo ground truth
PSEUDO_TRUTH_RULE = PseudoTruthRule()


def implausible_frames(masks: Sequence[np.ndarray], rule: PseudoTruthRule = PSEUDO_TRUTH_RULE,
                       void: int = 255) -> list[int]:
    """Indices of the implausible annotations among ``masks`` (``[H, W]`` id maps, frame 0 first)."""
    if not masks:
        return []
    areas = [int(((m > 0) & (m != void)).sum()) for m in masks]
    return rule.flag(areas, int(masks[0].size))
