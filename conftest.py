"""Hypothesis profiles for the whole suite.

``ci`` (the default) keeps the suite well under the CI budget on two cores;
``deep`` is for local runs: ``DICOMUL_HYPOTHESIS_PROFILE=deep pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("DICOMUL_HYPOTHESIS_PROFILE", "ci"))
