-- GET /v1/audit/proofs/inclusion?index=<random leaf>&size=<size>: RFC 9162 inclusion proofs.
-- Arguments: the Authorization header, the tree size.
require("common")
local headers, size = nil, 0

function init(args)
  headers, size = { ["Authorization"] = args[1] }, tonumber(args[2])
  math.randomseed(thread_id * 7919 + os.time())
end

function request()
  local path = "/v1/audit/proofs/inclusion?index=" .. math.random(0, size - 1) .. "&size=" .. size
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and not string.find(body, '{"hashes":["', 1, true) then count("bad_body") end
end
