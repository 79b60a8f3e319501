"""What every figure shares: drawn to read in black and white (sides differ by marker and shade, not colour
alone), one seaborn theme, and PDFs without a timestamp, so that the same data gives the same bytes.

Every module of ``report.figures`` imports this one, so editing it reruns every figure job."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # jobs have no display; the figure modules import this module before they draw

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

PDF_META = {"CreationDate": None, "Creator": "arithsignal"}  # no timestamp: same data, same bytes
SIDE_STYLE = {"on": dict(marker="o", color="0.1"), "off": dict(marker="s", color="0.55")}
SPLIT_STYLE = {"test": dict(marker="o", ls="-"), "commute": dict(marker="v", ls="--")}


def theme() -> None:
    """Seaborn's theme for every figure (it sets matplotlib's global rcParams, so each figure sets it first)."""
    sns.set_theme(style="whitegrid", context="paper")


def save(fig: plt.Figure, out: str) -> list[str]:
    """Write the figure; return each visible panel as "title | x label | y label" (what tests check)."""
    fig.tight_layout()
    if str(out).endswith(".png"):  # a small picture for the README (python -m arithsignal png)
        fig.savefig(out, format="png", dpi=72, metadata={"Software": "arithsignal"})
    else:
        fig.savefig(out, format="pdf", metadata=PDF_META)
    panels = [" | ".join((ax.get_title(), ax.get_xlabel(), ax.get_ylabel())) for ax in fig.axes if ax.get_visible()]
    plt.close(fig)
    return panels
