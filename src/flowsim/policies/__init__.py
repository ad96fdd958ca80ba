"""Policy types, registered by their YAML ``type``; see `flowsim.policies.base`."""

from flowsim.policies import (  # noqa: F401 - importing registers each type
    access_restriction,
    capacity_change,
    closure,
    entry_ban,
    exit_screening,
)
from flowsim.policies.base import REGISTRY, install_all, register

__all__ = ["REGISTRY", "install_all", "register"]
