"""diffim's ``measurePsf`` plugin ``stars``: the PSF of a plain image from its own stars.

    from diffim_psf import StarPsf, StarPsfConfig
"""
from .config import StarPsfConfig
from .plugin import StarPsf

__all__ = ["StarPsf", "StarPsfConfig"]
