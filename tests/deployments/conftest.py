"""
Fixtures of the deployment imitations.
"""

from __future__ import annotations

from .kubernetes import _node_dir

__all__ = ["_node_dir"]
