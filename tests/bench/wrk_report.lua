-- wrk_report.lua - wrk script shared by the benchmarks: GET /files/$FILE, either a random
-- BLOCK-aligned range of BLOCK bytes (BLOCK > 0) or the whole file (BLOCK = 0), and a final
-- RESULT line that the bench scripts parse.
-- Environment: FILE (default bench.bin), SIZE (file size, bytes), BLOCK (bytes, 0 = whole).
local file = os.getenv("FILE") or "bench.bin"
local size = tonumber(os.getenv("SIZE") or "67108864")
local block = tonumber(os.getenv("BLOCK") or "4096")
local path = "/files/" .. file

request = function()
  if block == 0 then
    return wrk.format("GET", path)
  end
  local off = math.random(0, math.floor(size / block) - 1) * block
  return wrk.format("GET", path, {["Range"] = "bytes=" .. off .. "-" .. (off + block - 1)})
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT req_s=%.1f mb_s=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / secs, summary.bytes / secs / 1e6, latency:percentile(50),
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
