-- POST /v1/consents:decide with the bodies of a file (one JSON document a line), in turn.
-- Arguments: the file, the Authorization header.
require("common")
local bodies, n, headers = {}, 0, nil

function init(args)
  bodies, n = read_lines(args[1]), thread_id
  headers = { ["Authorization"] = args[2], ["Content-Type"] = "application/json" }
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", "/v1/consents:decide", headers, bodies[n])
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and not string.find(body, '"unknown_subjects":[]', 1, true) then
    count("bad_body")
  end
end
