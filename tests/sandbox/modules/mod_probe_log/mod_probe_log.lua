-- Logs what it is told to, so tests can compare the sandbox's log with Prosody's.
module:hook("probe/log", function (event)
	module:log(event.level, event.format, table.unpack(event.args or {}));
	return true;
end);
