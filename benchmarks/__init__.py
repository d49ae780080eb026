"""
The benchmarks, each a script (`python benchmarks/bench_token.py`); a package only so that
the proof (proof/_perf.py) imports the helpers it shares with them.
"""
