"""Choice weights, compiled: `Chooser._weights_of` in two kernels around numpy's exp.

The reference computes them in a dozen numpy calls per information update, most of the
cost being the calls themselves. Here one kernel computes the utilities relative to each
row's best (the same subtractions and products, in the same order, and `np.maximum`'s
rule for the row maximum), numpy's own `exp` follows, and a second kernel applies the
masks as the reference's products do (a mask as 0.0 or 1.0 times the weight), so the
weights are the reference's bit for bit. They are written in place, into the one array
the kernels read.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowsim.engine.choice import Chooser
from flowsim.engine.compiled.kernel import _JIT


@njit(**_JIT)
def relative_utilities(base, wait_weights, known, idx, row_starts, row_lengths, out):
    """out[g, j] = base[g, j] - wait_weights[g, 0] * known[idx[j]], less its row's maximum."""
    for g in range(base.shape[0]):
        for j in range(idx.shape[0]):
            out[g, j] = base[g, j] - wait_weights[g, 0] * known[idx[j]]
        for r in range(row_starts.shape[0]):
            start, end = row_starts[r], row_starts[r] + row_lengths[r]
            best = out[g, start]
            for j in range(start + 1, end):  # `np.maximum`: a NaN wins, else the larger
                x = out[g, j]
                best = best if (best >= x or best != best) else x
            for j in range(start, end):
                out[g, j] -= best


@njit(**_JIT)
def masked_weights(docs_ok, usable, idx, open_now, w, out):
    """out[2g + informed, p, j] = (the party may choose row alternative j) * w[g, j]."""
    for p in range(docs_ok.shape[0]):
        for j in range(idx.shape[0]):
            a = idx[j]
            uninformed = 1.0 if docs_ok[p, a] and usable[a] else 0.0
            informed = uninformed if open_now[p, j] else 0.0
            for g in range(w.shape[0]):
                out[2 * g, p, j] = uninformed * w[g, j]
                out[2 * g + 1, p, j] = informed * w[g, j]


class CompiledChooser(Chooser):
    """The reference `Chooser`, its weights computed by the kernels above."""

    def _weights_of(
        self, known: np.ndarray, usable: np.ndarray, open_now: np.ndarray
    ) -> np.ndarray:
        idx = self.flat_idx
        utility = np.empty((self._flat_base.shape[0], idx.size))
        relative_utilities(
            self._flat_base,
            self._wait_weights,
            known,
            idx,
            self._row_starts,
            self._row_lengths,
            utility,
        )
        np.exp(utility, out=utility)
        masked_weights(self._docs_ok, usable, idx, open_now, utility, self.flat_weights)
        return self.flat_weights
