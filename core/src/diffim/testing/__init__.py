"""Tools for testing diffim and its plugins; never imported by a run.

:mod:`diffim.testing.simulate` makes science/template pairs with known truth for
tests, benchmarks and ``diffim simulate`` (:mod:`diffim.testing.simulate_repo` a data
repository); :mod:`diffim.testing.plugins` calls installed plugins by name for the tests
of other plugins; :mod:`diffim.testing.contract` is the ``subtract`` slot's contract, a
test suite a third-party plugin subclasses in its own tests.
"""
