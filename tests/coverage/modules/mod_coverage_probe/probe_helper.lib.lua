-- The probe's library (module:require("probe_helper")): counted as a file of its own.
local helper = {}; --@ 1

function helper.double(x) --@ 1
	return x * 2; --@ 2
end --@ 1

function helper.unused() --@ 1
	return nil; --@ 0
end --@ 1

return helper; --@ 1
