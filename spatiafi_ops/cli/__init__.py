"""
The ``spatiafi-ops`` command line: thin commands over the library.
"""

from ._root import CliState, cli, main

__all__ = ["CliState", "cli", "main"]
