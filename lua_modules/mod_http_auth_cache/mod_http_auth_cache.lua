-- mod_http_auth_cache: remember, for a short time, which username/password pairs were
-- verified, so HTTP APIs using Basic auth do not run the account's password hash on every
-- request.
--
-- Not enabled by itself: an HTTP module loads it on its host with
--
--     local auth_cache = module:depends("http_auth_cache");
--     local ok = auth_cache.test_password(username, password); -- username nodeprepped
--
-- Entries are keyed by HMAC-SHA256(per-process random key, username, password), so the
-- cache holds no password or reversible form of one; each expires after
-- http_auth_cache_ttl seconds, and every entry of an account is dropped when its password
-- changes, the account is deleted or (Prosody 13) disabled. See README.markdown.
-- luacheck: globals test_password forget_user cached_count

local cache = require "util.cache";
local hashes = require "util.hashes";
local random = require "util.random";
local time_now = require "util.time".now;
local usermanager = require "core.usermanager";

local DEFAULT_TTL = 60;
local DEFAULT_SIZE = 10000;

local function read_number(name, default, allow_zero)
	local value = module:get_option(name, default);
	local number = tonumber(value);
	if not number or number < 0 or (number == 0 and not allow_zero) or number ~= number then
		module:log("error", "Configuration error: %s must be a %s number, got %s; using %s", name,
			allow_zero and "non-negative" or "positive", tostring(value), tostring(default));
		return default;
	end
	return number;
end

local ttl = read_number("http_auth_cache_ttl", DEFAULT_TTL, true);
local size = math.floor(read_number("http_auth_cache_size", DEFAULT_SIZE, false));
if size < 1 then size = 1; end

-- A fresh key for every load: entries cannot be computed or recognised outside this process.
local secret = random.bytes(32);

-- key -> { username = ..., expires = ... }
local entries;
-- username -> set of keys, so an account's entries can be dropped without knowing them.
local keys_by_user = {};

local function unindex(key, entry)
	local keys = keys_by_user[entry.username];
	if keys then
		keys[key] = nil;
		if next(keys) == nil then keys_by_user[entry.username] = nil; end
	end
end

entries = cache.new(size, function (key, entry) unindex(key, entry); end);

local function entry_key(username, password)
	-- The lengths keep ("a:b", "c") and ("a", "b:c") apart.
	return hashes.hmac_sha256(secret, ("%d:%s%d:%s"):format(#username, username, #password, password));
end

local function drop(key)
	local entry = entries:get(key);
	if entry then
		entries:set(key, nil);
		unindex(key, entry);
	end
end

function forget_user(username)
	local keys = keys_by_user[username];
	if not keys then return 0; end
	local count = 0;
	for key in pairs(keys) do
		entries:set(key, nil);
		count = count + 1;
	end
	keys_by_user[username] = nil;
	module:log("debug", "Forgot %d cached credential(s) of %s@%s", count, username, module.host);
	return count;
end

-- The same answer as usermanager.test_password(username, module.host, password), from the
-- cache while a verified entry is fresh. Only successes are cached.
function test_password(username, password)
	if ttl == 0 then
		return usermanager.test_password(username, module.host, password);
	end
	local key = entry_key(username, password);
	local entry = entries:get(key);
	local now = time_now();
	if entry then
		if entry.expires > now then
			return true;
		end
		drop(key);
	end
	if not usermanager.test_password(username, module.host, password) then
		return false;
	end
	entries:set(key, { username = username, expires = now + ttl });
	local keys = keys_by_user[username];
	if not keys then
		keys = {};
		keys_by_user[username] = keys;
	end
	keys[key] = true;
	return true;
end

function cached_count()
	return entries:count();
end

local function on_account_change(event)
	if event.host == module.host and event.username then
		forget_user(event.username);
	end
end

-- Global events, fired by usermanager in Prosody 0.12 and 13 (user-disabled: 13 only).
module:hook_global("user-password-changed", on_account_change, 1000);
module:hook_global("user-deleted", on_account_change, 1000);
module:hook_global("user-disabled", on_account_change, 1000);
