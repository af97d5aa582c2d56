-- POST /token grant_type=refresh_token, each token of the thread's file used once: refresh
-- tokens rotate and a reused one revokes its grant. When none is left the thread stops
-- (counter "exhausted") instead of sending one twice. Arguments: the tokens' thread file
-- prefix, the client's Authorization header.
require("common")
local tokens, next_token, started, auth = {}, 0, nil, nil

function init(args)
  tokens, auth = read_lines(thread_file(args[1])), args[2]
end

function request()
  started = started or now_us()
  next_token = next_token + 1
  if next_token > #tokens then
    if next_token == #tokens + 1 then
      count("exhausted")
      sample("exhausted_after_us", now_us() - started)
    end
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local headers = { ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", "/token", headers,
    "grant_type=refresh_token&refresh_token=" .. tokens[next_token])
end

function response(status, headers, body)
  count_status(status)
  if status == 200 then
    count(string.find(body, '"refresh_token"', 1, true) and "rotated" or "bad_body")
  end
end
