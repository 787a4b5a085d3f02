-- Test fixture: reports how module:get_option* read this host's configuration.
local array = require "util.array";

local function sorted(set)
	local items = array.collect(set:items());
	items:sort();
	return items;
end

module:hook("probe/options", function ()
	return {
		host = module.host;
		name = module.name;
		host_type = module:get_host_type();
		raw = module:get_option("probe_raw");
		missing = module:get_option("probe_missing", "fallback");
		string = module:get_option_string("probe_string");
		string_from_list = module:get_option_string("probe_list");
		number = module:get_option_number("probe_number_text");
		boolean_yes = module:get_option_boolean("probe_yes");
		boolean_unknown = module:get_option_boolean("probe_no");
		boolean_default = module:get_option_boolean("probe_missing", true);
		array = module:get_option_array("probe_list");
		array_from_string = module:get_option_array("probe_string");
		set = sorted(module:get_option_set("probe_list"));
		inherited = sorted(module:get_option_inherited_set("probe_inherited"));
		path = module:get_option_path("probe_path", nil, "data");
		global = module:get_option("probe_global");
	};
end);
