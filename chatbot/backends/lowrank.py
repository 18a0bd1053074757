"""A layer plus a low-rank update, y = base(x) + (x A^T) B^T: a LoRA adapter kept unmerged.

Unmerged, the base layer keeps its exact 4-bit weights (packing.py packs `base` like any other
linear), and the update costs two small matrix products per layer. The update is computed in
float32 whatever the model's dtype: on CPU, small bfloat16 products cost 2.5x their float32 time
(measured: 13.8 vs 19.9 tok/s decode with the adapter), so the factors are plain float32
attributes that `model.to(dtype)` leaves alone.
"""

from __future__ import annotations

import torch


class LowRankAdapted(torch.nn.Module):
    def __init__(self, base: torch.nn.Module, lora_a, lora_b, scaling: float) -> None:
        super().__init__()
        self.base = base
        self.in_features = lora_a.shape[1]
        self.out_features = lora_b.shape[0]
        self.rank = lora_a.shape[0]
        # stored transposed and contiguous, scaling folded in: forward is two plain products
        self.down = lora_a.detach().float().t().contiguous()
        self.up = (lora_b.detach().float() * scaling).t().contiguous()

    def forward(self, x):
        y = self.base(x)
        flat = x.reshape(-1, self.in_features).float()
        delta = flat.mm(self.down).mm(self.up)
        return y + delta.view(*x.shape[:-1], self.out_features).to(y.dtype)

    def extra_repr(self) -> str:
        return f"rank={self.rank}"
