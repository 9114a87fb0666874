"""Run under torch.distributed.run: train, then save THIS rank's weights (to compare replicas)."""

import json
import sys

import torch.distributed as dist
from safetensors.torch import save_file

from erfkit.training import TrainConfig, fit

data, out, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
_, model = fit(TrainConfig.from_dict(config), data, out, progress=False)
rank = dist.get_rank() if dist.is_initialized() else 0
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.safetensors")
if dist.is_initialized():
    dist.destroy_process_group()
