-- sample_seeds.lua - wrk script: GET /sample/$FILE?$QUERY&seed=<random>, a new sample each time.
-- Environment: FILE (path under /sample/), QUERY (e.g. "n=64&size=4096").
local file = os.getenv("FILE") or "bench.bin"
local query = os.getenv("QUERY") or "n=64&size=4096"

request = function()
  return wrk.format("GET", "/sample/" .. file .. "?" .. query .. "&seed=" ..
                    math.random(0, 2147483647))
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT req_s=%.1f bytes_s=%.1f p50_us=%d p99_us=%d errors=%d " ..
    "requests=%d\n", summary.requests / (summary.duration / 1e6),
    summary.bytes / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout, summary.requests))
end
