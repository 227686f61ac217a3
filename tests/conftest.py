import os
import tempfile

from hypothesis import HealthCheck, settings

# LUT tables are cached on disk: keep the tests' cache in a temporary folder.
os.environ["ISPENGINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="ispengine-test-cache-")

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
