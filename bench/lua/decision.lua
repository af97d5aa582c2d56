-- GET /v1/consents/{random subject}/{random purpose}. Arguments: the subjects' thread file
-- prefix, the Authorization header, the purposes (comma-separated); paced.lua adds two.
require("common")
local subjects, purposes, auth = {}, {}, nil
interval_us, threads_total, due, sent = 0, 1, 0, 0  -- globals: paced.lua reads them

function init(args)
  subjects, auth, purposes = read_lines(thread_file(args[1])), args[2], split(args[3], ",")
  interval_us, threads_total = tonumber(args[4] or "0"), tonumber(args[5] or "1")
  math.randomseed(thread_id * 7919 + os.time())
end

function request()
  if interval_us > 0 then
    sent = now_us()
    gauge("last_sent_us", sent)
  end
  local s, p = subjects[math.random(#subjects)], purposes[math.random(#purposes)]
  return wrk.format("GET", "/v1/consents/" .. s .. "/" .. p, { ["Authorization"] = auth })
end

function response(status, headers, body)
  count_status(status)
  if interval_us > 0 then sample("latency_us", now_us() - math.min(sent, due)) end
  if status == 200 and not string.find(body, '"allowed":', 1, true) then count("bad_body") end
end
