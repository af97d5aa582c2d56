-- One request per line of the thread's file, in order: "PATH BODY" (the body is optional and
-- has no space), sent as METHOD with the headers given. Arguments: the method, the thread file
-- prefix (harness.write_thread_files), "once" or "cycle", the text every 200 answer must
-- contain ("-": none), then headers as "Name: value".
-- "once": each line is sent once (authorization codes, new visitors); when the lines run out
-- the thread stops (counter "exhausted", sample "exhausted_after_us") instead of sending one
-- twice. Run it with one connection per thread, so that every line taken was answered.
-- "cycle": back to the first line.
require("common")
local method, lines, once, expect, headers, cursor, started, done = nil, {}, true, nil, {}, 0,
  nil, false

function init(args)
  method, lines, once = args[1], read_lines(thread_file(args[2])), args[3] == "once"
  expect = args[4] ~= "-" and args[4] or nil
  for i = 5, #args do
    local name, value = string.match(args[i], "^([^:]+): (.*)$")
    headers[name] = value
  end
end

function request()
  started = started or now_us()
  cursor = cursor + 1
  if cursor > #lines and not once then cursor = 1 end
  if cursor > #lines then
    if not done then
      done = true
      count("exhausted")
      sample("exhausted_after_us", now_us() - started)
    end
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local path, body = string.match(lines[cursor], "^(%S+) ?(.*)$")
  return wrk.format(method, path, headers, body ~= "" and body or nil)
end

function response(status, headers, body)
  if done then return end
  count_status(status)
  if status == 200 and expect and not string.find(body, expect, 1, true) then count("bad_body") end
end
