"""A per-video atlas of explanation maps, built once and browsed instantly.

For a target frame ``t`` (default: the first, whose mask is given) and every
frame ``l`` of the video, the atlas holds maps that live on frame ``l``
(named by :class:`~erfkit.explain.keys.MapKey`):

* ``cycle``: the cycle-ERF of frame ``l`` for target ``t``;
* ``erf_query``: classic ERF w.r.t. frame ``l`` as the QUERY (memory: frame
  ``t`` with its mask), unit = each object's centroid in frame ``l``;
* ``erf_memory``: classic ERF w.r.t. frame ``l`` as the MEMORY (with its mask;
  query: frame ``t``), unit = each object's centroid in frame ``t``;
* ``saliency_<method>_query`` / ``saliency_<method>_memory``: Captum maps,
  same two settings;

plus ``pred`` (the model's segmentation of frame ``l`` with the ``mem``
strategy) and ``cycle_loss`` (the loss curve of the cycle-ERF).  The mask of
frame ``l`` (memory side, metrics) is its ground truth where it exists, else
the prediction.

The maps are computed at the network's input size (the checkpoint's, unless
``size`` says otherwise: frames letterboxed as in :mod:`erfkit.data.letterbox`)
and stored at the file's size, the canvas border cropped; the map metrics are
computed on the stored maps, deletion/insertion on the canvas the network sees.

Three rooms: :mod:`.config` (what is computed, fingerprints), :mod:`.store`
(the files: reader and writer), :mod:`.build` (the computing).
"""

from .build import build_atlas, frame_groups, predict_labels
from .config import ATLAS_METHODS, AtlasConfig, model_fingerprint, sequence_fingerprint, settings_of
from .store import ATLAS_FORMAT, ATLAS_VERSION, TABLE_COLUMNS, Atlas, AtlasWriter, metrics_table

__all__ = ["AtlasConfig", "Atlas", "AtlasWriter", "build_atlas", "predict_labels", "frame_groups", "ATLAS_METHODS",
           "ATLAS_FORMAT", "ATLAS_VERSION", "TABLE_COLUMNS", "metrics_table", "model_fingerprint", "sequence_fingerprint",
           "settings_of"]
