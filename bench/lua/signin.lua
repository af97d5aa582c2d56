-- A signed-in customer's authorization-code flow: GET /authorize with the browser session's
-- cookie (the password was checked when the session began) -> 303 to the client with a code ->
-- POST /token (PKCE S256) -> 200 with an ID token. Each flow is timed from its first send to
-- the token's answer (sample "flow"), each leg too ("leg_authorize", "leg_token").
-- One flow per line of the thread's file, each sent once: "session verifier challenge anon_id"
-- (anon_id "-": none; wrk's Lua has no SHA-256). When the lines run out the thread stops
-- (counter "exhausted", sample "exhausted_after_us"). Arguments: the thread file prefix, the
-- client's Authorization header, the /authorize path and query without state, nonce,
-- code_challenge and anon_id, the redirect URI, the session cookie's name.
require("common")
local flows, n, step, done, failures_shown = {}, 0, 1, false, 0
local auth, authorize, redirect_uri, cookie_name
local cookie, verifier, state, code, flow_start, request_start, started
local form = "application/x-www-form-urlencoded"
local legs = { "authorize", "token" }

function init(args)
  flows, auth, authorize, redirect_uri = read_lines(thread_file(args[1])), args[2], args[3], args[4]
  cookie_name = args[5]
end

function request()
  request_start = now_us()
  started = started or request_start
  if step == 2 then
    return wrk.format("POST", "/token", { ["Authorization"] = auth, ["Content-Type"] = form },
      "grant_type=authorization_code&code=" .. url_escape(code) .. "&redirect_uri="
      .. url_escape(redirect_uri) .. "&code_verifier=" .. verifier)
  end
  n = n + 1
  if n > #flows then
    if not done then
      done = true
      count("exhausted")
      sample("exhausted_after_us", request_start - started)
    end
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local session, challenge, anon_id
  session, verifier, challenge, anon_id = string.match(flows[n], "^(%S+) (%S+) (%S+) (%S+)$")
  cookie, state, flow_start = cookie_name .. "=" .. session, "t" .. thread_id .. "n" .. n, request_start
  return wrk.format("GET", authorize .. "&state=" .. state .. "&nonce=" .. state
    .. "&code_challenge=" .. challenge .. (anon_id ~= "-" and "&anon_id=" .. anon_id or ""),
    { ["Cookie"] = cookie })
end

-- Whether the answer to this step is the right one (and, for the first, its code).
local function right(status, headers, body)
  if step == 1 then
    local location = header(headers, "location")
    if status == 303 and location and query_param(location, "state") == state
        and string.sub(location, 1, #redirect_uri + 1) == redirect_uri .. "?" then
      code = query_param(location, "code")
      return code ~= nil
    end
    return false
  end
  return status == 200 and string.find(body, '"id_token"', 1, true) ~= nil
end

function response(status, headers, body)
  if done then return end
  count_status(status)
  local now = now_us()
  sample("leg_" .. legs[step], now - request_start)
  if not right(status, headers, body) then
    count("failed_" .. legs[step])
    if failures_shown < 3 then
      failures_shown = failures_shown + 1
      lines[#lines + 1] = string.format("failure %s %d %s %s", legs[step], status,
        tostring(header(headers, "location")), string.gsub(string.sub(body or "", 1, 200),
        "%s+", " "))
    end
    step = 1
  elseif step == 1 then
    step = 2
  else
    count("flows")
    sample("flow", now - flow_start)
    step = 1
  end
end
