-- Test helper for tests/rest: mints and revokes mod_tokenauth tokens over HTTP, so tests can
-- check Bearer auth in mod_rest on Prosody 0.12 (create_jid_token) and 13 (grants).
-- Never load this on a real server: it hands out tokens to anyone who asks.
--   POST /rest_test_tokens/create  {"username": "john", "ttl": 60}  -> {"token": "..."}
--   POST /rest_test_tokens/revoke  {"token": "..."}                -> {"revoked": true}

local json = require "util.json";

local tokens = module:depends("tokenauth");

local function create(username, ttl)
	local bare = username .. "@" .. module.host;
	local create_grant = rawget(tokens, "create_grant");
	if create_grant then -- Prosody 13
		local grant, err = create_grant(bare, bare, ttl);
		if not grant then return nil, err; end
		return rawget(tokens, "create_token")(bare, grant, "prosody:registered", ttl, "rest-test");
	end
	return rawget(tokens, "create_jid_token")(bare, bare, "rest-test", ttl);
end

local function answer(response, status, body)
	response.status_code = status;
	response.headers.content_type = "application/json";
	return json.encode(body);
end

module:depends("http");
module:provides("http", {
	route = {
		["POST /create"] = function (event)
			local request = json.decode(event.request.body or "") or {};
			local ttl = tonumber(request.ttl); -- absent or JSON null: no expiry
			local token, err = create(type(request.username) == "string" and request.username or "", ttl);
			if not token then return answer(event.response, 400, { error = tostring(err) }); end
			return answer(event.response, 200, { token = token });
		end;
		["POST /revoke"] = function (event)
			local request = json.decode(event.request.body or "") or {};
			local ok, err = rawget(tokens, "revoke_token")(request.token or "");
			return answer(event.response, ok and 200 or 400, { revoked = ok and true or false, error = err });
		end;
	};
});
