"""pytest plugin (registered through the pytest11 entry point): scenario files as tests,
and fixtures for targets, clients, mock backends and the sandbox. How to use both is in
docs/scenario-format.md, section "pytest"."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.coverage import pytest_option as lua_coverage
from harness.profile import Profile
from harness.prosody_install import cache_dir
from harness.runner.execute import ScenarioRun
from harness.runner.pool import ServerPool
from harness.runner.results import ERROR, SKIPPED, ScenarioResult
from harness.runner.runner import available_targets, disagreements, resolve_target_names
from harness.runner.terminal import failure_text
from harness.scenario import Scenario, ScenarioError, load_scenarios, looks_like_scenario
from harness.target import Client, Target, TargetError
from harness.targets import TARGETS, TargetSpec
from mock_backends import tls

if TYPE_CHECKING:  # importing the sandbox loads lupa: only when the fixture is used
    from harness.sandbox import Sandbox

SCENARIO_DIR = "scenarios"
POOLS = pytest.StashKey[dict[str, ServerPool]]()
VERDICT = "prosody-harness verdict"
_verdicts: list[ScenarioResult] = []  # this session's, gathered from the test reports


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prosody-harness", "prosody-harness scenarios and targets")
    group.addoption(
        "--target",
        choices=[*TARGETS, "all"],
        default=None,
        help="target for scenario files and the prosody_target fixture "
        "(default: sandbox when available, else prosody)",
    )
    group.addoption(
        "--modules",
        metavar="DIR",
        default=None,
        help="Prosody modules directory to use instead of lua_modules/",
    )
    group.addoption(
        "--no-reuse", action="store_true", help="a fresh server for every scenario file"
    )
    group.addoption(
        "--prosody",
        metavar="VERSION",
        default=None,
        help="Prosody to run on every target: 0.12, 13 (fetched on first use) or the path of "
        "a prosody launcher; a comma-separated list (0.12,13) runs every scenario on each "
        "(default: $PROSODY_HARNESS_PROSODY, else the prosody on PATH)",
    )
    group.addoption(
        "--image",
        metavar="NAME",
        default=None,
        help="container image for the docker target (default: $PROSODY_HARNESS_IMAGE, else "
        "prosody-harness/prosody:SERIES, built from Debian packages on first use)",
    )
    lua_coverage.add_option(group)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[POOLS] = {}
    _verdicts.clear()
    config.pluginmanager.import_plugin("mock_backends.pytest_fixtures")
    lua_coverage.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    for pool in config.stash.get(POOLS, {}).values():
        pool.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --target all, differing verdicts fail the session (listed in the summary)."""
    lua_coverage.finish(session.config, lambda: pytest_unconfigure(session.config), _verdicts)
    if _disagreements(session.config) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lua_coverage.summary(terminalreporter, config)
    found = _disagreements(config)
    if found:
        terminalreporter.section("scenario verdicts differ between targets", red=True)
        for item in found:
            verdicts = ", ".join(f"{t}={s}" for t, s in sorted(item.verdicts.items()))
            terminalreporter.line(f"{item.scenario_id}: {verdicts}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect each scenario's verdict from its report: in process, or sent by an xdist
    worker to the controller, which compares the verdicts of all of them."""
    for name, value in report.user_properties:
        if name == VERDICT and report.when == "call":
            verdict = json.loads(value)
            result = ScenarioResult(
                verdict["id"].split("::", 1)[1],
                verdict["id"].split("::", 1)[0],
                1,
                verdict["target"],
                verdict["status"],
                prosody=verdict["prosody"],
            )
            _verdicts.append(result)


def _disagreements(config: pytest.Config) -> list:
    return disagreements(_verdicts)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix in (".yaml", ".yml", ".scs") and SCENARIO_DIR in file_path.parts[:-1]:
        if looks_like_scenario(file_path):
            return ScenarioFile.from_parent(parent, path=file_path)
    return None


def target_spec(config: pytest.Config, name: str, prosody: str | None = None) -> TargetSpec:
    """The target `name` made of what the command line chose (modules, version, image)."""
    return TargetSpec(
        name,
        config.getoption("modules"),
        prosody or _prosody_versions(config)[0],
        config.getoption("image"),
        coverage=lua_coverage.recorder(config),
    )


def _prosody_versions(config: pytest.Config) -> list[str | None]:
    """--prosody 0.12,13 runs every scenario on each; without it, the environment's."""
    given = config.getoption("prosody")
    return [v.strip() for v in given.split(",") if v.strip()] if given else [None]


def _target_names(config: pytest.Config) -> list[str]:
    names = resolve_target_names(config.getoption("target"))
    if config.getoption("target") == "all":
        names, _ = available_targets(names)
    return names


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenarios = load_scenarios(self.path)
        except ScenarioError as exc:
            yield InvalidScenarioItem.from_parent(self, name=self.path.name, error=exc)
            return
        names = _target_names(self.config)
        versions = _prosody_versions(self.config)
        for scenario in scenarios:  # one per case of a file with cases:
            for version in versions:
                for target in names:
                    label = "-".join(
                        ([target] if len(names) > 1 else [])
                        + ([version] if len(versions) > 1 else [])
                    )
                    name = f"{scenario.name}[{label}]" if label else scenario.name
                    yield ScenarioItem.from_parent(
                        self, name=name, scenario=scenario, target=target, prosody=version
                    )


class ScenarioFailure(Exception):
    def __init__(self, result: ScenarioResult):
        super().__init__(result.message)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, target: str, prosody: str | None, **kwargs):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.target = target
        self.prosody = prosody  # as given to --prosody (None: the environment's)
        self.extra_keyword_matches.update(scenario.tags)

    def runtest(self) -> None:
        pool = self._pool()
        if not self.scenario.runs_on(self.target, pool.series):
            pytest.skip(self.scenario.restriction())
        try:
            lease = pool.acquire(self.scenario)
        except TargetError as exc:
            if self.config.getoption("target") == "all":
                unavailable = pool.unavailable_reason()  # a missing target, not this profile
                if unavailable is not None:
                    pytest.skip(f"the {self.target} target is not available here: {unavailable}")
            pytest.fail(f"the {self.target} target did not start: {exc}", pytrace=False)
        result = ScenarioRun(self.scenario, lease.server).run()
        result.target = self.target
        # Travels with the test's report, so that under pytest-xdist the verdicts of
        # every worker meet in the controller (see pytest_runtest_logreport).
        verdict = {
            "id": result.id,
            "target": result.target,
            "prosody": result.prosody,
            "status": result.status,
        }
        self.user_properties.append((VERDICT, json.dumps(verdict)))
        pool.release(lease, healthy=result.status != ERROR)
        if result.status == SKIPPED:
            pytest.skip(result.message)
        if not result.ok:
            raise ScenarioFailure(result)

    def _pool(self) -> ServerPool:
        pools = self.config.stash[POOLS]
        key = f"{self.target}@{self.prosody}"
        if key not in pools:
            # As `prosody-harness run`: the HTTPS mocks' certificates kept for the next run
            # (each pytest-xdist worker would otherwise import cryptography and make keys).
            tls.keep_in(cache_dir() / "tls")
            spec = target_spec(self.config, self.target, self.prosody)
            pools[key] = ServerPool(spec, reuse=not self.config.getoption("no_reuse"))
        return pools[key]

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailure):
            return failure_text(excinfo.value.result)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.scenario.line - 1, f"scenario: {self.scenario.name}"


class InvalidScenarioItem(pytest.Item):
    """Stands for a scenario file that does not load; fails with file:line and why."""

    def __init__(self, *, error: ScenarioError, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo, style=None):
        return f"invalid scenario: {self.error}"

    def reportinfo(self):
        return self.path, (self.error.line or 1) - 1, f"invalid scenario: {self.path.name}"


@pytest.fixture(scope="session")
def harness_target_name(pytestconfig: pytest.Config) -> str:
    """The target chosen with --target (the first available one for `all`)."""
    names = _target_names(pytestconfig)
    if not names:
        pytest.skip("no target is available here")
    return names[0]


@pytest.fixture
def prosody_target(
    pytestconfig: pytest.Config, harness_target_name: str
) -> Iterator[Callable[..., Target]]:
    """Factory: `prosody_target(profile=None, modules_dir=None)` -> a started Target of the
    --target kind; every target it made is stopped after the test."""
    started: list[Target] = []

    def start(profile: Profile | None = None, modules_dir: str | None = None) -> Target:
        spec = target_spec(pytestconfig, harness_target_name)
        if modules_dir:
            spec = replace(spec, modules_dir=modules_dir)
        target = spec.create(profile or Profile())
        started.append(target)
        target.start()
        return target

    yield start
    for target in reversed(started):
        target.stop()


@pytest.fixture
def xmpp_client() -> Iterator[Callable[..., Client]]:
    """Factory: `xmpp_client(target, "john@localhost", "pw", resource=None)` creates the
    account and logs it in; every client is disconnected after the test."""
    clients: list[Client] = []

    def connect(target: Target, jid: str, password: str, resource: str | None = None) -> Client:
        user, host = jid.split("@", 1)
        target.create_user(user, host, password)
        client = target.connect(jid, password, resource)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - the server may already be gone
            pass


@pytest.fixture
def sandbox_profile() -> Profile:
    """The Profile the `sandbox` fixture starts. Override this fixture (in a conftest.py or a
    test module) to enable your module and set its options; the default is the host
    localhost with the harness' base modules."""
    return Profile()


@pytest.fixture
def sandbox_modules_dir(pytestconfig: pytest.Config) -> str | None:
    """Where the `sandbox` fixture finds modules: --modules, else the project's lua_modules/.
    Override it to test modules kept elsewhere."""
    return pytestconfig.getoption("modules")


@pytest.fixture
def sandbox(sandbox_profile: Profile, sandbox_modules_dir: str | None) -> Iterator[Sandbox]:
    """A started harness.sandbox.Sandbox (Prosody's core in process, on a virtual clock)
    for module unit tests: `load_module`, `fire_event`, `create_user`, `connect`, `http`,
    `advance`, `log`, `lua_eval`. Stopped after the test; skipped where it cannot load."""
    try:
        from harness.sandbox import Sandbox
    except ImportError as exc:
        pytest.skip(f"the sandbox is not available here: {exc}")
    box = Sandbox(sandbox_profile, modules_dir=sandbox_modules_dir)
    box.start()
    yield box
    box.stop()
