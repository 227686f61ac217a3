"""Old module paths of the flat layout still import, warn, and are the new modules."""

import importlib
import sys
import warnings

import pytest

from ispengine._moved import MOVED_MODULES, new_name


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_path_is_the_new_module_with_a_warning(old):
    new = importlib.import_module(MOVED_MODULES[old])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.invalidate_caches()
        sys.modules.pop(old, None)
        module = importlib.import_module(old)
    assert module is new
    assert any(issubclass(w.category, DeprecationWarning) and old in str(w.message) for w in caught)


def test_submodules_of_a_moved_package_follow_it():
    assert new_name("ispengine.raw.dng") == "ispengine.io.raw.dng"
    assert new_name("ispengine.rawfile") is None
    assert new_name("ispengine.lut.table") is None


def test_every_new_module_exists():
    for new in MOVED_MODULES.values():
        importlib.import_module(new)
