"""One torchrun process of the DDP test: train, then save this rank's weights for comparison.

Usage: ``torchrun --nproc_per_node=2 tests/ddp_worker.py CONFIG.json OUT_DIR``
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from genointerp.sae import SAETrainConfig, train_sae


def main() -> None:
    config = SAETrainConfig.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    out = Path(sys.argv[2])
    result = train_sae(config, out, progress=False)
    rank = os.environ["RANK"]
    torch.save(result.sae.state_dict(), out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
