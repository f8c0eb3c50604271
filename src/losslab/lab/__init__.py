"""The losslab lab: reproducible experiments that measure the three claims of losslab and write
an HTML report with figures and verdicts computed from the numbers (``losslab report``).

Needs the ``lab`` extra (scipy, matplotlib, click, tqdm). ``import losslab`` never imports this
package; the experiments live in :mod:`.logits`, :mod:`.regression` and :mod:`.focal`, the
verdict logic in :mod:`.verdicts`, the page in :mod:`.html`.
"""

from __future__ import annotations

from .metrics import average_precision
from .report import EXPERIMENTS, SCHEMA_VERSION, run_report
from .verdicts import THRESHOLDS, verdict

__all__ = [
    "EXPERIMENTS",
    "SCHEMA_VERSION",
    "THRESHOLDS",
    "average_precision",
    "run_report",
    "verdict",
]
