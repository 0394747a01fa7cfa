"""Backends: one small adapter per array library, and the interface a plugin implements.

A third-party package adds a backend by subclassing :class:`Backend` and
registering an instance with :func:`xpbridge.register_backend`, or by naming
the class in the ``xpbridge.backends`` entry-point group, which is loaded only
when an object no backend owns turns up.
"""

from .._lib.devices import Device
from .._lib.traits import Traits
from ._base import Backend, Extent

__all__ = ["Backend", "Device", "Extent", "Traits"]
