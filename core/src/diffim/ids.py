"""diaSource ids: exposure id in the high bits, a running number in the low bits."""
from __future__ import annotations

import numpy as np


class IdFactory:
    """Make 64-bit source ids unique across exposures.

    Parameters
    ----------
    exposureId : int
        Id of the science exposure (0 when unknown).
    expBits : int
        Number of high bits reserved for the exposure id.
    """

    def __init__(self, exposureId: int = 0, expBits: int = 32) -> None:
        if not 0 <= exposureId < 2 ** expBits:
            raise ValueError(f"exposureId {exposureId} does not fit in {expBits} bits")
        self.exposureId = int(exposureId)
        self.seqBits = 63 - expBits
        self._next = 1

    def __call__(self, n: int) -> np.ndarray:
        """Return ``n`` new ids."""
        if self._next + n > 2 ** self.seqBits:
            raise ValueError("IdFactory ran out of sequence numbers")
        seq = np.arange(self._next, self._next + n, dtype=np.int64)
        self._next += n
        return (np.int64(self.exposureId) << np.int64(self.seqBits)) | seq
