"""diffim's ``al`` decorrelate plugin: whiten the noise of an Alard–Lupton difference."""
from .config import DecorrelateALKernelConfig
from .filter import DecorrelationFilter
from .plugin import DecorrelateALKernel

__all__ = ["DecorrelateALKernel", "DecorrelateALKernelConfig", "DecorrelationFilter"]
