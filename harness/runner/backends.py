"""Mock backends for a scenario, on ports that stay fixed for the server it runs on.

A backend's URL ends up in the Prosody profile (`http_roster_url: ${roster.url}/...`), so
a server shared by several scenarios needs the same URLs for all of them. Each shared
server therefore reserves one port per backend name once; every scenario then starts its
own fresh backends (its own initial state, empty journal, no faults) on those ports and
stops them when it ends, so nothing a backend learnt leaks into the next scenario.
"""

from __future__ import annotations

import errno
import time
from typing import Any

from harness.ports import LOOPBACK
from harness.scenario import BackendSpec
from harness.target import TargetError

REBIND_BOUND = 3.0  # seconds to wait for a just-released port


def backend_variables(
    host: str, ports: dict[str, int], specs: dict[str, BackendSpec]
) -> dict[str, str]:
    """`${NAME.url}`, `${NAME.port}` and `${NAME.ca_file}` of each backend, as the server
    reaches them (https:// for a backend with `tls:`; ca_file is the test authority that
    signs `trusted` certificates, for the profile's `ssl = { cafile = ... }`)."""
    variables = {}
    for name, port in ports.items():
        scheme = "https" if specs[name].config.get("tls") else "http"
        variables[f"{name}.url"] = f"{scheme}://{host}:{port}"
        variables[f"{name}.port"] = str(port)
        if specs[name].config.get("tls"):
            from mock_backends.tls import ca_file

            variables[f"{name}.ca_file"] = ca_file()
    return variables


def start_backends(
    specs: list[tuple[BackendSpec, dict[str, Any]]], ports: dict[str, int], host: str = LOOPBACK
) -> dict[str, Any]:
    """Start each (spec, resolved config) on its reserved port at `host`; all or none."""
    from mock_backends import start_backend

    started: dict[str, Any] = {}
    try:
        for spec, config in specs:
            started[spec.name] = _start_on(start_backend, spec, config, host, ports[spec.name])
    except BaseException:
        stop_backends(started)
        raise
    return started


def _start_on(start_backend, spec: BackendSpec, config: dict[str, Any], host: str, port: int):
    deadline = time.monotonic() + REBIND_BOUND
    while True:
        try:
            return start_backend(spec.kind, config, host=host, port=port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise TargetError(
                    f"backend {spec.name!r} ({spec.kind}) cannot listen on {host}:{port}: {exc}"
                ) from exc
            time.sleep(0.02)
        except ValueError as exc:
            raise TargetError(f"backend {spec.name!r} ({spec.kind}): {exc}") from exc


def stop_backends(backends: dict[str, Any]) -> None:
    for backend in backends.values():
        backend.stop()
