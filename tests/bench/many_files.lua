-- many_files.lua - wrk script of tests/bench/many_files.sh: every request a uniformly random
-- path (or range), and a final RESULT line of key=value pairs that the script parses.
-- Environment, one of three modes:
--   SET, COUNT, DIRS   GET /files/SET/dDDDD/fIIIIIII.bin, I uniform in [0, COUNT), DDDD = I % DIRS
--                      (the layout tests/bench/many_files.py creates)
--   LIST               GET one of the URL paths in the file LIST (one a line), uniformly
--   FILE, SIZE, BLOCK  GET /files/FILE with a random BLOCK-aligned Range of BLOCK bytes
-- SEED (default 1) seeds the draw: every server of one round gets the same sequence.
math.randomseed(tonumber(os.getenv("SEED") or "1"))
local set, list, file = os.getenv("SET"), os.getenv("LIST"), os.getenv("FILE")
local count = tonumber(os.getenv("COUNT") or "0")
local dirs = tonumber(os.getenv("DIRS") or "1")
local size = tonumber(os.getenv("SIZE") or "0")
local block = tonumber(os.getenv("BLOCK") or "4096")
local paths = {}
if list then
  for line in io.lines(list) do
    if line ~= "" then paths[#paths + 1] = line end
  end
end

request = function()
  if set then
    local i = math.random(0, count - 1)
    return wrk.format("GET", string.format("/files/%s/d%04d/f%07d.bin", set, i % dirs, i))
  elseif list then
    return wrk.format("GET", paths[math.random(1, #paths)])
  end
  local off = math.random(0, math.floor(size / block) - 1) * block
  return wrk.format("GET", "/files/" .. file,
    {["Range"] = "bytes=" .. off .. "-" .. (off + block - 1)})
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT req_s=%.1f mb_s=%.1f p50_us=%d p99_us=%d errors=%d "
    .. "requests=%d secs=%.3f status_errors=%d socket_errors=%d\n",
    summary.requests / secs, summary.bytes / secs / 1e6, latency:percentile(50),
    latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout,
    summary.requests, secs, e.status, e.connect + e.read + e.write + e.timeout))
end
