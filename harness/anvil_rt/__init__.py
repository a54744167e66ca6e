"""Runtime helpers a candidate imports to build its kernels (`from anvil_rt import cpp`)."""

from . import cpp

__all__ = ["cpp"]
