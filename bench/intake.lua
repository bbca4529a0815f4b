-- wrk script: each connection posts the next of the prepared requests (one per line: path TAB signature
-- TAB body). A thread that has its share answered writes "finished <first sent> <last answered>
-- <answered>" to stderr (wall-clock seconds) and stops; the driver stops wrk once every thread has.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function now()
  local clock = io.popen("date +%s.%N")
  local value = clock:read("*l")
  clock:close()
  return value
end

function init(args)
  nthreads = tonumber(args[2])
  requests_, sent, answered, started = {}, 0, 0, nil
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local path, signature, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
      table.insert(requests_, wrk.format("POST", path, {["Content-Type"] = "application/json",
        ["aftership-hmac-sha256"] = signature}, body))
    end
    i = i + 1
  end
end

function request()
  if sent == 0 then started = now() end
  sent = sent + 1
  return requests_[((sent - 1) % #requests_) + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if answered == #requests_ then
    io.stderr:write(string.format("finished %s %s %d\n", started, now(), answered))
    io.stderr:flush()
    wrk.thread:stop()
  end
end
