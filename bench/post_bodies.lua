-- wrk script: POST pre-signed webhook bodies, each exactly once, split between wrk's threads.
-- BODIES names a file of lines "<X-Hub-Signature-256>\t<body>". A thread that runs out of bodies
-- stops rather than send a duplicate, unless WRAP=1 (the baseline, to which duplicates cost the same).
local threads = {}
local counter = 0

function setup(thread)
   thread:set("index", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local total = tonumber(os.getenv("WRK_THREADS"))
   bodies = {}
   local n = 0
   for line in io.lines(os.getenv("BODIES")) do
      if n % total == index then
         local tab = line:find("\t", 1, true)
         table.insert(bodies, {line:sub(1, tab - 1), line:sub(tab + 1)})
      end
      n = n + 1
   end
   next_body = 1
   wrap = os.getenv("WRAP") == "1"
end

function request()
   local item = bodies[next_body]
   if item == nil and wrap then
      next_body = 1
      item = bodies[1]
   elseif item == nil then
      wrk.thread:stop()
      item = bodies[#bodies]
   end
   next_body = next_body + 1
   return wrk.format("POST", os.getenv("WEBHOOK_PATH"), {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature-256"] = item[1],
   }, item[2])
end

function done(summary, latency, requests)
   local sent = 0
   for _, thread in ipairs(threads) do
      sent = sent + (thread:get("next_body") - 1)
   end
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
      '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
