"""Command-line tools: each module's ``main(argv=None)`` returns an exit code.

setup.cfg's console scripts (``limitbatch-regimes``, ``limitbatch-plot``,
...) call them; ``tools/*.py`` are thin shims over the same functions so
that ``python tools/X.py`` keeps working from a checkout. The sweep and grid
tools' ``main`` live beside their logic in ``limitbatch_tf/sweeps``.
"""
