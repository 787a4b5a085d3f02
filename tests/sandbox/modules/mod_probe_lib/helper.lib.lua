-- Test fixture library loaded through module:require("helper").
local function greet(who)
	return "hello from "..who;
end

return { greet = greet };
