-- Test fixture: keyval and map stores opened with module:open_store.
local keyval = module:open_store("probe_kv");
local map = module:open_store("probe_map", "map");

module:hook("probe/store", function (event)
	assert(keyval:set(event.user, { colour = event.colour }));
	assert(map:set(event.user, "size", event.size));
	local stored = keyval:get(event.user);
	return {
		colour = stored and stored.colour;
		size = map:get(event.user, "size");
		other = keyval:get("nobody");
	};
end);
