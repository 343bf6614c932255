"""Tools for testing diffim and its plugins; never imported by a run.

:mod:`diffim.testing.simulate` makes science/template pairs with known truth for
tests, benchmarks and ``diffim simulate``; :mod:`diffim.testing.plugins` calls
installed plugins by name for the tests of other plugins.
"""
