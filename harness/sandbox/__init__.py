"""The in-process sandbox target: Prosody's own core and modules in lupa's Lua 5.4,
with sockets, time and logging provided by the harness. See README.md."""

from harness.sandbox.sandbox import Sandbox, SandboxLuaError

__all__ = ["Sandbox", "SandboxLuaError"]
