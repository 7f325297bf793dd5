"""benchmarks/oscillating/plot.py draws the masks the oscillating layers build."""

import torch

from benchmarks.oscillating.plot import layer_masks_for_plot
from hf_archs.designs.oscillating.naive import oscillating_mask_naive
from tests.designs.oscillating.test_attention import CYCLE


def test_the_plot_draws_the_masks_the_layers_build():
    layer_types = ["sliding_attention"] * 5 + ["full_attention"]
    masks = layer_masks_for_plot(CYCLE, layer_types, length=10, padding=2, window=4)
    padding_mask = torch.tensor([[1] * 8 + [0] * 2])
    for layer, mask in enumerate(masks):
        window = 4 if layer_types[layer] == "sliding_attention" else None
        assert torch.equal(mask, oscillating_mask_naive(CYCLE[layer % 3], padding_mask, window)[0]), layer
