"""Plugin loading: entry points of group ``ispengine`` into a pluggy manager.

Loading is lazy (on first use of :attr:`PluginHost.registry`) and isolated: a
plugin that fails to import, misspells a hook name (``check_pending``) or
raises while registering is reported with its name and error, and the other
plugins still load. ``ISPENGINE_STRICT_PLUGINS=1`` turns any such failure
into an error. ``ISPENGINE_PLUGINS=a,b`` loads only the named entry points.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pluggy
from attrs import frozen

from ispengine.core import hookspecs
from ispengine.core.commands import Command, CommandRecord, CommandTable
from ispengine.core.errors import PluginError
from ispengine.core.registry import ComponentRecord, Registry
from ispengine.core.stage import INVERSE_METHODS, InverseStage, Stage

ENTRY_POINT_GROUP = "ispengine"
HOOK_KINDS = {entry.hook: kind for kind, entry in hookspecs.COMPONENT_KINDS.items()}

STAGE_KINDS = ("stage", "inverse_stage", "filter")


@frozen
class PluginInfo:
    """A loaded plugin: its name, distribution and implemented hooks."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


@frozen
class PluginFailure:
    """A plugin that could not be loaded or could not register."""

    name: str
    distribution: str | None
    error: str


def strict_plugins() -> bool:
    value = os.environ.get("ISPENGINE_STRICT_PLUGINS", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


class PluginHost:
    """A pluggy manager with the ispengine hooks, its plugins and their registry."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager("ispengine")
        self.manager.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._registry: Registry | None = None
        self._provenance: dict[str, tuple[str | None, str | None]] = {}

    # -- loading ------------------------------------------------------------
    def register(
        self, plugin: Any, name: str, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register a plugin object (a module or any object with hookimpls)."""
        self.manager.register(plugin, name=name)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            self.manager.unregister(name=name)
            raise PluginError(f"plugin '{name}': {error}") from None
        self._provenance[name] = (distribution, version)
        self._registry = None

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self._provenance.pop(name, None)
        self._registry = None

    def load(self) -> None:
        """Load the entry points once; later calls do nothing."""
        if self._loaded:
            return
        self._loaded = True
        if not self._load_entry_points:
            return
        only = {n.strip() for n in os.environ.get("ISPENGINE_PLUGINS", "").split(",") if n.strip()}
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        unknown = sorted(only - {ep.name for ep in found})
        if unknown:
            warnings.warn(
                f"ISPENGINE_PLUGINS names no installed plugin: {', '.join(unknown)}", stacklevel=3
            )
        for ep in found:
            if only and ep.name not in only:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            try:
                plugin = ep.load()
                self.register(plugin, ep.name, distribution=dist_name, version=version)
            except Exception as error:  # isolate any failure of third-party code
                self._fail(ep.name, dist_name, error)

    def _fail(
        self, name: str, distribution: str | None, error: BaseException, *, part: str = ""
    ) -> None:
        text = str(error) if isinstance(error, PluginError) else f"{type(error).__name__}: {error}"
        text = f"{part} skipped: {text}" if part else text
        failure = PluginFailure(name, distribution, text)
        if strict_plugins():
            raise PluginError(f"plugin '{name}' failed: {text}") from error
        if failure in self.failures:
            return
        self.failures.append(failure)
        what = ":" if part else " skipped:"
        warnings.warn(f"ispengine plugin '{name}'{what} {text}", stacklevel=3)

    # -- views --------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self.load()
            self._registry = self._build_registry()
        return self._registry

    def plugins(self) -> list[PluginInfo]:
        """Loaded plugins; building the registry first, so registration failures show."""
        self.registry  # noqa: B018
        infos = []
        for name, plugin in sorted(self.manager.list_name_plugin(), key=lambda item: item[0]):
            callers = self.manager.get_hookcallers(plugin) or []
            distribution, version = self._provenance.get(name, (None, None))
            infos.append(
                PluginInfo(name, distribution, version, tuple(sorted(c.name for c in callers)))
            )
        return infos

    def _build_registry(self) -> Registry:
        """Call every plugin's hooks; each plugin's registrations land all or none.

        Built-in plugins (this distribution's) go first, so a third-party name
        clash fails the third-party plugin. Forward components are registered
        before inverse stages, and an inverse must name the registered class of
        its forward stage.
        """
        registry = Registry()
        names = self._ordered_names()
        staged = {name: self._collect(name) for name in names}
        for phase in ("forward", "inverse"):
            for name in names:
                records = staged.get(name)
                if records is None:
                    continue
                try:
                    for record in records:
                        if (record.kind == "inverse_stage") == (phase == "inverse"):
                            if phase == "inverse":
                                _check_forward_is_registered(registry, record)
                            registry.add(record)
                except PluginError as error:
                    registry.remove_plugin(name)
                    staged[name] = None
                    self._fail(name, self._provenance.get(name, (None, None))[0], error)
        return registry

    def add_commands(self, table: CommandTable) -> None:
        """Add every plugin's commands to ``table``, built-ins first; each plugin's
        commands land all or none. A plugin whose hook raises, whose command
        clashes with one in ``table`` or whose ``add_arguments`` fails is reported
        like a plugin that fails to register, and the CLI goes on without it."""
        self.load()
        for name in self._ordered_names():
            distribution, version = self._provenance.get(name, (None, None))
            records: list[CommandRecord] = []
            register = _command_callback(records, name, distribution, version)
            try:
                for impl in self.manager.hook.ispengine_register_commands.get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=register)
                table.add_all(records)
            except Exception as error:  # a broken plugin must not take the CLI down
                self._fail(name, distribution, error, part="commands")

    def _ordered_names(self) -> list[str]:
        """Plugin names, this distribution's (the built-ins) first."""
        names = [name for name, _ in self.manager.list_name_plugin()]
        names.sort(key=lambda n: (self._provenance.get(n, (None, None))[0] != "ispengine", n))
        return names

    def _collect(self, name: str) -> list[ComponentRecord] | None:
        """The records plugin ``name`` registers through all its hooks (None if it raised)."""
        plugin = self.manager.get_plugin(name)
        distribution, version = self._provenance.get(name, (None, None))
        records: list[ComponentRecord] = []
        for caller in self.manager.get_hookcallers(plugin) or []:
            kind = HOOK_KINDS.get(caller.name)
            if kind is None:
                continue
            callback = _register_callback(records, kind, name, distribution, version)
            for impl in caller.get_hookimpls():
                if impl.plugin_name != name:
                    continue
                try:
                    impl.function(register=callback)
                except Exception as error:  # a broken plugin must not take the others down
                    self._fail(name, distribution, error)
                    return None
        return records


def _check_forward_is_registered(registry: Registry, record: ComponentRecord) -> None:
    forward = record.cls.forward
    if forward.name in registry.names("filter"):
        raise PluginError(
            f"{record.source}: inverse stage '{record.name}' inverts '{forward.name}', which "
            f"{registry.get('filter', forward.name).source} registers as a filter; filters are "
            "never inverted (a stage with an inverse registers through ispengine_register_stages)"
        )
    match = next((r for r in registry.records("stage") if r.name == forward.name), None)
    if match is None or match.cls is not forward:
        where = f"registered by {match.source}" if match else "not registered"
        raise PluginError(
            f"{record.source}: inverse stage '{record.name}' inverts a '{forward.name}' class "
            f"that is not the registered one ({where})"
        )


def _register_callback(
    records: list[ComponentRecord],
    kind: str,
    plugin: str,
    distribution: str | None,
    version: str | None,
) -> Callable:
    def register(cls: type) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{plugin}': {cls!r} has no 'name'")
        inverts = method = None
        if kind in STAGE_KINDS and not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise PluginError(f"plugin '{plugin}': '{name}' is not a subclass of Stage")
        if kind == "inverse_stage":
            forward = getattr(cls, "forward", None)
            if not issubclass(cls, InverseStage) or forward is None:
                raise PluginError(
                    f"plugin '{plugin}': inverse stage '{name}' must subclass "
                    "InverseStage and set 'forward'"
                )
            if cls.method not in INVERSE_METHODS:
                raise PluginError(
                    f"plugin '{plugin}': inverse stage '{name}' has method {cls.method!r}; "
                    f"expected one of {', '.join(INVERSE_METHODS)}"
                )
            inverts, method = forward.name, cls.method
        records.append(
            ComponentRecord(name, kind, cls, plugin, distribution, version, inverts, method)
        )

    return register


def _command_callback(
    records: list[CommandRecord], plugin: str, distribution: str | None, version: str | None
) -> Callable:
    def register(command: Command) -> None:
        if not isinstance(command, Command):
            raise PluginError(f"plugin '{plugin}': {command!r} is not an ispengine.Command")
        records.append(CommandRecord(command, plugin, distribution, version))

    return register


_default_host: PluginHost | None = None


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host (created on first call)."""
    global _default_host
    if _default_host is None:
        _default_host = PluginHost()
    return _default_host


def get_registry() -> Registry:
    """The registry of the process-wide plugin host, loading plugins on first use."""
    return get_plugin_host().registry
