-- decision.lua at a fixed rate. Two more arguments: the interval between one thread's sends
-- in microseconds and the number of threads (one connection each). Each thread sends on its
-- own schedule, the first send staggered by its share of the interval; a late answer delays
-- the next send, so decision.lua samples latency from the scheduled time when a send was late
-- (the coordinated-omission correction wrk2 makes; Debian has no wrk2).
require("decision")
local next_due = nil

function delay()
  local now = now_us()
  if next_due == nil then
    next_due = now + interval_us * (thread_id - 1) / threads_total
    gauge("first_due_us", next_due)
  end
  due, next_due = next_due, next_due + interval_us
  if due < now then
    count("behind_schedule")
    return 0
  end
  return math.floor((due - now) / 1000)
end
