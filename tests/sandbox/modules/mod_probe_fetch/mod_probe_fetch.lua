-- Test fixture: net.http in its callback and promise forms.
local http = require "net.http";
local results = {};

module:hook("probe/fetch", function (event)
	local order = { "before request" };
	http.request(event.url, {
		method = "POST";
		body = event.body;
		headers = { ["Content-Type"] = "text/plain"; ["X-Probe"] = "callback" };
	}, function (body, code, response)
		table.insert(order, "callback");
		results.callback = { body = body; code = code; header = response and response.headers and response.headers["x-answer"] };
		results.order = order;
	end);
	table.insert(order, "after request");
	http.request(event.url.."?form=promise", { insecure = event.insecure }):next(function (response)
		results.promise = { body = response.body; code = response.code };
	end, function (err)
		results.promise = { error = tostring(err) };
	end);
	return true;
end);

module:hook("probe/results", function () return results; end);
