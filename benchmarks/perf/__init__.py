"""Pieces of ``benchmarks/performance.py``: pairs, children, quality, peers, report."""
