"""
``python -m spatiafi_ops`` runs the CLI.
"""

from .cli import main

main()
