-- PUT /v1/consents/{random subject}/{random purpose}, granted and withdrawn in turn per thread.
-- Arguments: the subjects' thread file prefix, the Authorization header, the purposes.
require("common")
local subjects, purposes, headers, n = {}, {}, nil, 0
local decisions = { "granted", "withdrawn" }

function init(args)
  subjects, purposes = read_lines(thread_file(args[1])), split(args[3], ",")
  headers = { ["Authorization"] = args[2], ["Content-Type"] = "application/json" }
  math.randomseed(thread_id * 104729 + os.time())
end

function request()
  n = n + 1
  local s, p = subjects[math.random(#subjects)], purposes[math.random(#purposes)]
  return wrk.format("PUT", "/v1/consents/" .. s .. "/" .. p, headers,
    '{"decision":"' .. decisions[n % 2 + 1] .. '"}')
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and not string.find(body, '"record":', 1, true) then count("bad_body") end
end
