"""What every method family (sRGB-to-RAW, RAW-to-sRGB) shares: declared settings,
weights, and one file layout for saving and loading.

A saved method is a settings file ``PATH.json`` (its format name, the method's
registry name, its settings and the weights file's name) and, when the method
has arrays (weights, a fitted camera bank), ``PATH.safetensors`` or ``PATH.pt``
beside it (:mod:`ispengine.learning.weights`). Each family names its own format
(``ispengine-srgb2raw``, ``ispengine-raw2srgb``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ispengine.core.errors import InputError, ISPEngineError, PluginError
from ispengine.core.plugins import get_registry
from ispengine.core.registry import Registry
from ispengine.core.settings import SettingBase, coerce_table
from ispengine.io.atomic import atomic_output
from ispengine.learning.weights import WEIGHT_SUFFIXES, load_arrays, save_arrays


class SavedMethod:
    """Base of the method families: settings checked into ``config``, weights as arrays,
    :meth:`save` / :meth:`load`.

    Class attributes a subclass sets:
        name: registry name, lower-case.
        summary: one line for listings.
        settings: the declared constructor keywords (:mod:`ispengine.core.settings`);
            their checked values are ``method.config``, saved by :meth:`save`.
        learned: ``fit`` trains weights (it needs torch).
        family: the family's label in messages (``sRGB-to-RAW method``).
        file_format: the format name its settings files carry.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    settings: ClassVar[tuple[SettingBase, ...]] = ()
    learned: ClassVar[bool] = False
    family: ClassVar[str] = "method"
    file_format: ClassVar[str] = ""

    def __init__(self, **settings: Any) -> None:
        self.config: dict[str, Any] = coerce_table(
            self.settings, settings, f"{self.family} '{self.name}'"
        )

    def num_parameters(self) -> int:
        """Learned parameters (0 for methods without weights)."""
        return 0

    def state(self) -> dict[str, Any]:
        """Arrays to store beside the settings (weights; empty for methods without any)."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise InputError(f"method '{self.name}' stores no weights, got {sorted(state)[:3]}")

    def save(self, path: str | Path) -> Path:
        """Write the settings (``PATH`` with suffix ``.json``) and, when there are any,
        the weights (``PATH``, safetensors or ``.pt``); returns the settings file."""
        return save_method(self, path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


def save_method(
    method: SavedMethod, path: str | Path, weights_suffix: str = ".safetensors"
) -> Path:
    """Write ``method``'s settings to ``PATH.json`` and its arrays beside it.

    The settings file holds the format, the method name, its settings and the
    weights file's name; the arrays go to ``PATH.safetensors`` or ``PATH.pt``
    (:mod:`ispengine.learning.weights`), only when the method has any. Returns the
    settings file.
    """
    path = Path(path)
    if path.suffix in WEIGHT_SUFFIXES:
        weights_suffix = path.suffix
    base = path.with_suffix("") if path.suffix in (*WEIGHT_SUFFIXES, ".json") else path
    state = method.state()
    weights = None
    if state:
        weights = base.with_suffix(weights_suffix)
        save_arrays(weights, state)
    settings_path = base.with_suffix(".json")
    document = {
        "format": method.file_format,
        "version": 1,
        "method": method.name,
        "settings": method.config,
        "weights": weights.name if weights else None,
    }
    with atomic_output(settings_path) as temporary:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return settings_path


def load_saved_method(
    path: str | Path,
    *,
    formats: tuple[str, ...],
    lookup: Callable[[str], type],
    base: type[SavedMethod],
    expected: type | None = None,
) -> Any:
    """Rebuild a method saved by :func:`save_method` (give the ``.json`` or weights file).

    ``formats``: the format names accepted (the first is the family's own); the class
    is ``lookup(name)`` of the method the file names; ``expected`` (a concrete class
    other than ``base``) makes any other method an error.
    """
    path = Path(path)
    settings_path = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        document = json.loads(settings_path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{settings_path}: cannot read saved method ({error})") from None
    if not isinstance(document, dict) or document.get("format") not in formats:
        raise InputError(f"{settings_path}: not a saved ispengine {base.family}")
    name = str(document.get("method"))
    if document["format"] == formats[0]:
        cls = lookup(name)
    else:  # a file of another family: only a method registered in both is accepted
        try:
            cls = lookup(name)
        except ISPEngineError:
            raise InputError(
                f"{settings_path}: holds method '{name}' of format {document['format']}, "
                f"which is not a {base.family}"
            ) from None
    if expected is not None and expected is not base and cls is not expected:
        raise InputError(
            f"{settings_path}: holds method '{document['method']}', not '{expected.name}'"
        )
    method = cls(**document.get("settings", {}))
    if document.get("weights"):
        method.load_state(load_arrays(settings_path.parent / document["weights"]))
    return method


def registered_method(kind: str, name: str, base: type, registry: Registry | None = None) -> type:
    """The class registered as ``name`` of ``kind`` (in ``registry``, default: the
    plugins'), checked to be a subclass of ``base``.

    Raises :class:`~ispengine.core.errors.UnknownComponentError` for an unknown name and
    :class:`~ispengine.core.errors.PluginError` naming the plugin when what it registered
    is not a ``base``.
    """
    record = (registry or get_registry()).get(kind, name)
    if not (isinstance(record.cls, type) and issubclass(record.cls, base)):
        raise PluginError(
            f"plugin '{record.plugin}': '{name}' is not a subclass of {base.__name__}"
        )
    return record.cls
