-- Test fixture: a handler that raises, to see the error logged with file:line.
module:hook("message/host", function ()
	local nothing;
	return nothing.field;
end);
