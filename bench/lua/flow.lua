-- The whole sign-in flow, chained on each connection (one per thread): GET /authorize -> 303
-- /login?next=... -> POST /login -> 303 /authorize/resume -> GET it with the new session ->
-- 303 to the client with a code -> POST /token (PKCE S256) -> 200 with ID and refresh tokens.
-- Each flow and each leg is timed. Arguments: the PKCE pairs' thread file prefix ("verifier
-- challenge" a line: wrk's Lua has no SHA-256), the client's Authorization header, the
-- /authorize path and query without state and challenge, the redirect URI, the CSRF cookie
-- ("name=value") and its token, the password, the accounts' emails (comma-separated; thread n
-- signs in as the n-th), and their browsers' device cookies in the same order: a known device,
-- as a returning shopper's browser is (no new-device mail, and no second Set-Cookie hiding the
-- session's: wrk keeps only the last header of a name).
require("common")
local pkce, n, step = {}, 0, 1
local auth, authorize, redirect_uri, cookies, login_prefix
local verifier, state, next_url, session_cookie, resume_path, code
local flow_start, request_start, failures_shown = 0, 0, 0
local legs = { "authorize", "login", "resume", "token" }
local form = "application/x-www-form-urlencoded"

function init(args)
  pkce, auth, authorize, redirect_uri = read_lines(thread_file(args[1])), args[2], args[3], args[4]
  local emails, devices = split(args[8], ","), split(args[9], ",")
  local email = emails[(thread_id - 1) % #emails + 1]
  cookies = args[5] .. "; " .. devices[(thread_id - 1) % #devices + 1]
  login_prefix = "csrf_token=" .. url_escape(args[6]) .. "&email=" .. url_escape(email)
    .. "&password=" .. url_escape(args[7]) .. "&next="
end

function request()
  request_start = now_us()
  if step == 1 then
    n = n + 1
    if n > #pkce then
      count("pkce_exhausted")
      n = 1
    end
    local challenge
    verifier, challenge = string.match(pkce[n], "^(%S+) (%S+)$")
    state = "t" .. thread_id .. "n" .. n
    flow_start = request_start
    return wrk.format("GET", authorize .. "&state=" .. state .. "&nonce=" .. state
      .. "&code_challenge=" .. challenge, {})
  elseif step == 2 then
    return wrk.format("POST", "/login", { ["Content-Type"] = form, ["Cookie"] = cookies },
      login_prefix .. url_escape(next_url))
  elseif step == 3 then
    return wrk.format("GET", resume_path, { ["Cookie"] = session_cookie })
  end
  return wrk.format("POST", "/token", { ["Authorization"] = auth, ["Content-Type"] = form },
    "grant_type=authorization_code&code=" .. url_escape(code) .. "&redirect_uri="
    .. url_escape(redirect_uri) .. "&code_verifier=" .. verifier)
end

-- The next step when the answer to this one is right, else nil.
local function advance(status, headers, body)
  local location = header(headers, "location")
  if step == 1 and status == 303 and location and string.find(location, "^/login%?") then
    next_url = query_param(location, "next")
    return next_url and 2
  elseif step == 2 and status == 303 and location
      and string.find(location, "^/authorize/resume%?") then
    local cookie = header(headers, "set-cookie")
    if cookie and string.find(cookie, "identity_session=", 1, true) then
      session_cookie, resume_path = string.match(cookie, "^([^;]+)"), location
      return 3
    end
  elseif step == 3 and status == 303 and location
      and string.sub(location, 1, #redirect_uri + 1) == redirect_uri .. "?"
      and query_param(location, "state") == state then
    code = query_param(location, "code")
    return code and 4
  elseif step == 4 and status == 200 and string.find(body, '"id_token"', 1, true)
      and string.find(body, '"refresh_token"', 1, true) then
    count("flows")
    sample("flow", now_us() - flow_start)
    return 1
  end
end

function response(status, headers, body)
  count_status(status)
  sample("leg_" .. legs[step], now_us() - request_start)
  local following = advance(status, headers, body)
  if not following then
    count("failed_" .. legs[step])
    if failures_shown < 3 then
      failures_shown = failures_shown + 1
      lines[#lines + 1] = string.format("failure %s %d %s %s", legs[step], status,
        tostring(header(headers, "location")), string.gsub(string.sub(body or "", 1, 200),
        "%s+", " "))
    end
    following = 1
  end
  step = following
end
