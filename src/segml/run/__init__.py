"""``segml run``: the run's config, its declared steps, the runner, one folder per run, tracking.

The libraries (:mod:`segml.features`, :mod:`segml.clv`, :mod:`segml.churn`, :mod:`segml.value`,
:mod:`segml.tiers`, :mod:`segml.segments`, :mod:`segml.grades`, :mod:`segml.explain`) never
import this package; it imports them.
"""
