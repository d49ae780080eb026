"""
The proof of spatiafi-ops: `python -m proof --output PROOF.md` (`make proof`) from the
repository's root.

It runs from a checkout, not from the installed package: `python -m` puts the root on the
path, so the proof imports the test support as the tests do (`tests.hostile_server`) and the
benchmarks it reuses as `benchmarks.*`. Each part of the report is a module `_<name>.py`
here, registered in `PARTS` (`__main__.py`); docs/contributing.md says how to add one.
"""
