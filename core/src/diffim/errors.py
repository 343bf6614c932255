"""Typed errors that carry the data a user needs to act on them.

Every error diffim raises on purpose derives from :class:`DiffimError`; the
CLI prints its message as one line and exits non-zero.
"""
from __future__ import annotations


class DiffimError(Exception):
    """Base class of diffim's own errors; the message is one line for the user."""


class InputError(DiffimError):
    """An input file or exposure is unusable (names the file and what was expected)."""


class ConfigError(DiffimError):
    """A config field, slot or pipeline file is invalid."""


class PluginError(DiffimError):
    """A plugin could not be found, loaded, or misbehaved.

    Parameters
    ----------
    slot : str
        The retargetable slot, e.g. ``"subtract"``.
    name : str
        The implementation name asked for.
    message : str
        What went wrong and what to do.
    distribution : str, optional
        The distribution that provides the plugin, when known.
    """

    def __init__(self, slot: str, name: str, message: str, distribution: str | None = None):
        self.slot = slot
        self.name = name
        self.distribution = distribution
        where = f"{slot} plugin {name!r}"
        if distribution:
            where += f" (from {distribution})"
        super().__init__(f"{where}: {message}")


class OutputError(DiffimError):
    """An output cannot be written (it exists, or its directory is unusable)."""


class NoOverlapError(InputError):
    """Science and template do not overlap enough.

    Parameters
    ----------
    fraction : float
        The fraction of science pixels the template covers.
    required : float
        The required fraction (``requiredTemplateFraction``).
    """

    def __init__(self, fraction: float, required: float):
        self.fraction = fraction
        self.required = required
        super().__init__(
            f"template covers {fraction:.1%} of the science image; requiredTemplateFraction "
            f"is {required:.1%} (lower it, or give a template that covers the science image)"
        )


class InsufficientKernelSourcesError(DiffimError):
    """Too few usable stars to fit a PSF-matching kernel.

    Parameters
    ----------
    n : int
        Number of usable kernel candidates found.
    required : int
        Minimum needed.
    """

    def __init__(self, n: int, required: int, hint: str = ""):
        self.n = n
        self.required = required
        msg = f"only {n} usable kernel candidates, at least {required} needed"
        super().__init__(msg + (f"; {hint}" if hint else ""))


class RegistrationRequiredError(InputError):
    """Science and template are not aligned and cannot be aligned from their WCS."""
