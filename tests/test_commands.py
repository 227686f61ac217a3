"""Plugin commands: the ``ispengine_register_commands`` hook, groups, clashes and failures."""

import json
import warnings

import pytest

import ispengine.core.plugins
from ispengine import Command, PluginError, PluginHost, hookimpl
from ispengine.cli import CORE_COMMANDS, command_table, main
from ispengine.core.commands import CommandRecord, CommandTable


def _plugin(*commands: Command, fail: Exception | None = None) -> type:
    def register_commands(register):
        for command in commands:
            register(command)
        if fail is not None:
            raise fail

    return type(
        "Plugin", (), {"ispengine_register_commands": staticmethod(hookimpl(register_commands))}
    )


@pytest.fixture
def install(monkeypatch):
    """Make a host with these plugin objects the process-wide one, as `ispengine` would."""

    def make(**plugins: type) -> PluginHost:
        host = PluginHost(load_entry_points=False)
        for name, plugin in plugins.items():
            host.register(plugin, name)
        monkeypatch.setattr(ispengine.core.plugins, "_default_host", host)
        return host

    return make


def _greet(args) -> int:
    print(f"hello {args.who}")
    return 0


def _who(parser) -> None:
    parser.add_argument("who")


GREET = Command("greet", "say hello", run=_greet, add_arguments=_who)


def test_a_plugin_command_runs(capsys, install):
    install(hello=_plugin(GREET))
    assert main(["greet", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_a_plugin_command_nests_in_a_core_group_and_in_its_own(capsys, install):
    install(
        hello=_plugin(
            Command("bench greet", "greet as a bench", run=_greet, add_arguments=_who),
            Command("lens flare show", "two levels deep", run=lambda args: 3),
        )
    )
    assert main(["bench", "greet", "bench"]) == 0
    assert capsys.readouterr().out == "hello bench\n"
    assert main(["lens", "flare", "show"]) == 3
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    listed = capsys.readouterr().out
    assert "srgb2raw" in listed and "greet" in listed
    records = {r.command.name: r for r in command_table().records()}
    assert records["lens"].command.is_group and records["lens"].plugin == "hello"
    assert records["bench"].plugin is None  # the core's group stays the core's


def test_a_run_returning_none_exits_zero(install):
    install(quiet=_plugin(Command("nothing", "does nothing", run=lambda args: None)))
    assert main(["nothing"]) == 0


@pytest.mark.parametrize(
    ("command", "other"),
    [
        (Command("run", "mine", run=_greet), "the ispengine core"),
        (Command("bench srgb2raw", "mine", run=_greet), "the ispengine core"),
        (Command("demo sub", "under a command", run=_greet), "the ispengine core"),
    ],
)
def test_a_clash_with_the_core_names_both_sources(command, other, capsys, install):
    host = install(clasher=_plugin(command, GREET))
    with pytest.warns(UserWarning, match="clasher") as caught, pytest.raises(SystemExit):
        main(["greet", "x"])  # all or none: greet is gone too
    assert other in str(caught[0].message) and "plugin 'clasher'" in str(caught[0].message)
    assert "invalid choice: 'greet'" in capsys.readouterr().err
    assert host.failures[0].name == "clasher"
    assert host.failures[0].error.startswith("commands skipped: command ")


def test_a_clash_between_plugins_skips_the_second(install):
    install(first=_plugin(GREET), second=_plugin(GREET))
    with pytest.warns(UserWarning) as caught:
        records = command_table().records()
    message = str(caught[0].message)
    assert "'greet' is registered twice: by plugin 'first' and by plugin 'second'" in message
    assert [r.plugin for r in records if r.command.name == "greet"] == ["first"]


def test_a_broken_plugin_does_not_take_the_cli_down(capsys, install):
    def bad_arguments(parser):
        raise RuntimeError("no parser for you")

    host = install(
        raising=_plugin(GREET, fail=ValueError("hook exploded")),
        arguments=_plugin(Command("bad", "bad arguments", run=_greet, add_arguments=bad_arguments)),
        typed=_plugin("not a command"),
        good=_plugin(Command("fine", "works", run=lambda args: 0)),
    )
    with pytest.warns(UserWarning):
        assert main(["fine"]) == 0
    errors = {f.name: f.error for f in host.failures}
    assert errors["raising"] == "commands skipped: ValueError: hook exploded"
    assert "add_arguments failed: RuntimeError: no parser for you" in errors["arguments"]
    assert "is not an ispengine.Command" in errors["typed"]
    with pytest.raises(SystemExit):
        main(["greet", "x"])
    assert "invalid choice: 'greet'" in capsys.readouterr().err
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "raising" in {f["name"] for f in listed["failures"]}


def test_strict_plugins_make_a_broken_command_a_one_line_error(monkeypatch, capsys, install):
    monkeypatch.setenv("ISPENGINE_STRICT_PLUGINS", "1")
    install(raising=_plugin(fail=ValueError("hook exploded")))
    assert main(["plugins"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ispengine: error: plugin 'raising' failed: commands skipped: ValueError: hook exploded"
    ]


def test_a_failing_plugin_command_is_one_line_with_status_2(capsys, install):
    def crash(args):
        raise ZeroDivisionError("division by zero")

    def user_error(args):
        raise PluginError("lens: no such profile 'x'")

    install(
        crashing=_plugin(
            Command("crash", "fails", run=crash), Command("oops", "user error", run=user_error)
        )
    )
    assert main(["crash"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ispengine: error: command 'crash' of plugin 'crashing' failed: "
        "ZeroDivisionError: division by zero"
    ]
    assert main(["oops"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ispengine: error: lens: no such profile 'x'"
    ]


def test_debugging_shows_the_plugin_traceback(monkeypatch, install):
    monkeypatch.setenv("ISPENGINE_DEBUG", "1")
    install(crashing=_plugin(Command("crash", "fails", run=lambda args: 1 / 0)))
    with pytest.raises(ZeroDivisionError):
        main(["crash"])


def test_plugins_lists_the_commands_hook(capsys, install):
    install(hello=_plugin(GREET))
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins["hello"]["hooks"] == ["ispengine_register_commands"]


@pytest.mark.parametrize("name", ["Bench", "bench  semiisp", "", "bench/x", "9lives"])
def test_command_names_are_checked(name):
    with pytest.raises(PluginError, match="invalid command name"):
        Command(name, "help")


def test_the_core_table_has_no_clash_and_groups_precede_members():
    table = CommandTable()
    table.add_all(CommandRecord(command) for command in CORE_COMMANDS)
    names = [r.command.name for r in table.records()]
    assert names.index("bench") < names.index("bench srgb2raw")
    assert {"plugins", "stages", "check", "run", "invert", "unprocess", "train", "demo"} <= set(
        names
    )


def test_a_group_declared_twice_keeps_the_first_help():
    table = CommandTable()
    table.add_all([CommandRecord(Command("bench", "core benches"))])
    table.add_all([CommandRecord(Command("bench", "mine"), "other")])
    assert [(r.command.help, r.plugin) for r in table.records()] == [("core benches", None)]


def test_the_installed_semiisp_plugin_registers_bench_semiisp():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = {r.command.name: r for r in command_table().records()}
    assert records["bench semiisp"].plugin == "semiisp"
    assert records["bench semiisp"].distribution == "ispengine"
