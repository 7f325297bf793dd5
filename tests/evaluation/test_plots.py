"""Stored plots are compact palette PNGs that look like the full-colour rendering."""

import io

import numpy as np
from PIL import Image

from hf_archs.evaluation.plots import compact_png


def _rendering(heatmap: bool) -> io.BytesIO:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    if heatmap:
        ax.imshow(np.random.default_rng(0).normal(size=(32, 64)), cmap="RdBu")
    else:
        ax.plot(np.sin(np.linspace(0, 9, 200)), color="tab:blue")
        ax.plot(np.cos(np.linspace(0, 9, 200)), "--", color="tab:gray")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    buffer.seek(0)
    return buffer


def test_compact_png_keeps_the_picture_in_fewer_bytes(tmp_path):
    for heatmap in (False, True):
        rendering = _rendering(heatmap)
        path = compact_png(rendering, tmp_path / "plot.png")
        compact = Image.open(path)
        assert compact.mode == "P"
        error = np.abs(
            np.asarray(compact.convert("RGB"), dtype=np.float64)
            - np.asarray(Image.open(rendering).convert("RGB"), dtype=np.float64)
        ).mean()
        assert error < 0.5
        assert path.stat().st_size < len(rendering.getvalue()) / 2
