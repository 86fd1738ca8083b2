-- random_4k.lua - wrk script: GET one random 4 KiB-aligned 4 KiB range of /files/$FILE.
-- Environment: FILE (path under /files/), SIZE (file size in bytes), BLOCK (default 4096).
local file = os.getenv("FILE") or "bench.bin"
local size = tonumber(os.getenv("SIZE") or "67108864")
local block = tonumber(os.getenv("BLOCK") or "4096")
local slots = math.floor(size / block)

request = function()
  local off = math.random(0, slots - 1) * block
  return wrk.format("GET", "/files/" .. file,
                    {["Range"] = "bytes=" .. off .. "-" .. (off + block - 1)})
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT req_s=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
