-- The same request over and over, or one per line of a file of bodies, in turn.
-- Arguments: method, path, text every answer must contain ("-": none), file of bodies ("-":
-- none), then headers as "Name: value".
require("common")
local method, path, expect, built, cursor = nil, nil, nil, {}, 0

function init(args)
  method, path, expect = args[1], args[2], args[3] ~= "-" and args[3] or nil
  local headers = {}
  for i = 5, #args do
    local name, value = string.match(args[i], "^([^:]+): (.*)$")
    headers[name] = value
  end
  local bodies = args[4] ~= "-" and read_lines(args[4]) or { false }
  for i, body in ipairs(bodies) do built[i] = wrk.format(method, path, headers, body or nil) end
end

function request()
  cursor = cursor % #built + 1
  return built[cursor]
end

function response(status, headers, body)
  count_status(status)
  if expect and not string.find(body, expect, 1, true) then count("bad_body") end
end
