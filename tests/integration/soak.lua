-- soak.lua - the wrk script of test_soak.py: a mix of every endpoint, and errors on purpose.
--
-- Arguments (after wrk's "--"): SEED RECORDS SMALL_SIZES. The served root holds records.bin
-- (RECORDS records of 64 bytes in the demo's format: record i at offset i*64 says
-- "record %08d of %08d offset %012d " padded with dots, then a newline), small-N.bin (its
-- first N records) for each N in SMALL_SIZES (comma separated) and empty.bin.
--
-- request() picks a kind by weight and counts the status it expects (sent.S); response()
-- counts what came back (got.S) and checks each body it can: ranges, multipart parts and
-- samples against the record format, the whole small files, /healthz. done() prints one
-- line, "SOAK key=value ...", which the test parses: expected and received counts by status,
-- bodies that failed a check (bad), and wrk's own errors.

local RS = 64 -- bytes per record

local seed, records, smalls = 1, 65536, {1}
local bad_printed = 0
local threads = {}
-- globals, so that done() can read each thread's with thread:get()
sent, got, bad = {}, {}, 0

local function record_line(i)
   local text = string.format("record %08d of %08d offset %012d ", i, records, i * RS)
   return text .. string.rep(".", RS - 1 - #text) .. "\n"
end

local function complain(what, status, body)
   bad = bad + 1
   if bad_printed < 5 then
      bad_printed = bad_printed + 1
      io.stderr:write(string.format("soak.lua: bad %s (status %d, %d bytes): %q\n", what,
                                    status, #body, body:sub(1, 120)))
   end
end

-- The bytes [first, first + len) of records.bin (or of a prefix of it) are `data`?
local function is_records(data, first)
   if first % RS ~= 0 then
      return false
   end
   local i = first / RS
   local pos = 1
   while pos <= #data do
      local line = record_line(i)
      local want = line:sub(1, #data - pos + 1)
      if data:sub(pos, pos + #want - 1) ~= want then
         return false
      end
      pos, i = pos + RS, i + 1
   end
   return true
end

-- A multipart/byteranges body: the number of parts, or nil when a part is wrong.
local function multipart_parts(body)
   local n = 0
   for first, last, total, rest in body:gmatch(
         "Content%-Range: bytes (%d+)%-(%d+)/(%d+)\r\n\r\n()") do
      first, last, total = tonumber(first), tonumber(last), tonumber(total)
      if total ~= records * RS or last < first then
         return nil
      end
      if not is_records(body:sub(rest, rest + last - first), first) then
         return nil
      end
      n = n + 1
   end
   return n
end

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   seed = tonumber(args[1] or "1")
   records = tonumber(args[2] or "65536")
   smalls = {}
   for n in (args[3] or "1"):gmatch("%d+") do
      table.insert(smalls, tonumber(n))
   end
   math.randomseed(seed * 1000 + (tid or 0))
end

local function count(t, status)
   t[status] = (t[status] or 0) + 1
end

local function range4k()
   local first = math.random(0, records * RS / 4096 - 1) * 4096
   return wrk.format("GET", "/files/records.bin", {Range = "bytes=" .. first .. "-" .. (first + 4095)}), 206
end

local function multi()
   -- three ranges in three different 64 KiB blocks, never touching: three parts, in any order
   local blocks = records * RS / 65536
   local a = math.random(0, blocks - 1)
   local b = (a + math.random(1, blocks - 1)) % blocks
   local c = b
   while c == a or c == b do
      c = math.random(0, blocks - 1)
   end
   local specs = {}
   for _, blk in ipairs({a, b, c}) do
      local first = blk * 65536 + math.random(0, 511) * RS
      local len = math.random(1, 4096)
      table.insert(specs, first .. "-" .. (first + len - 1))
   end
   return wrk.format("GET", "/files/records.bin", {Range = "bytes=" .. table.concat(specs, ",")}), 206
end

local formats = {"raw", "json", "multipart"}
local sample_n = {1, 16, 256}
local sample_size = {64, 128, 4096}

local function sample()
   local path = string.format("/sample/records.bin?n=%d&size=%d&align=64&seed=%d&format=%s",
                              sample_n[math.random(#sample_n)], sample_size[math.random(#sample_size)],
                              math.random(0, 1000000), formats[math.random(#formats)])
   return wrk.format("GET", path), 200
end

local function small()
   return wrk.format("GET", "/files/small-" .. smalls[math.random(#smalls)] .. ".bin"), 200
end

local errors400 = {"n=0&size=64", "n=4&size=64&colour=red", "n=4&size=64&format=xml",
                   "n=4&size=-1", "size=64", "n=4&size=" .. string.rep("9", 30)}

local kinds = {
   {30, range4k},
   {10, multi},
   {10, small},
   {2, function() return wrk.format("GET", "/files/empty.bin"), 200 end},
   {12, sample},
   {2, function() return wrk.format("GET", "/metrics"), 200 end},
   {4, function() return wrk.format("GET", "/healthz"), 200 end},
   {2, function() return wrk.format("GET", "/readyz"), 200 end},
   {1, function() return wrk.format("GET", "/files/"), 200 end},
   {2, function() return wrk.format("GET", "/files/missing-" .. math.random(1, 100) .. ".bin"), 404 end},
   {1, function() return wrk.format("GET", "/nowhere"), 404 end},
   {3, function()
          local start = records * RS + math.random(0, 100000)
          return wrk.format("GET", "/files/records.bin", {Range = "bytes=" .. start .. "-"}), 416
       end},
   {3, function()
          return wrk.format("GET", "/sample/records.bin?" .. errors400[math.random(#errors400)]), 400
       end},
}
local total_weight = 0
for _, k in ipairs(kinds) do
   total_weight = total_weight + k[1]
end

function request()
   local r = math.random(1, total_weight)
   for _, k in ipairs(kinds) do
      r = r - k[1]
      if r <= 0 then
         local req, status = k[2]()
         count(sent, status)
         return req
      end
   end
end

function response(status, headers, body)
   count(got, status)
   local ctype = headers["Content-Type"] or ""
   if status == 206 then
      if ctype:find("^multipart/byteranges") then
         if multipart_parts(body) ~= 3 then
            complain("multi-range answer", status, body)
         end
      else
         local first, last = (headers["Content-Range"] or ""):match("^bytes (%d+)%-(%d+)/")
         first, last = tonumber(first), tonumber(last)
         if not first or last - first + 1 ~= #body or #body ~= 4096 or not is_records(body, first) then
            complain("range", status, body)
         end
      end
   elseif status == 200 then
      local offsets = headers["Sample-Offsets"]
      if offsets then -- /sample, format=raw: the records at the listed offsets
         local list = {}
         for o in offsets:gmatch("%d+") do
            table.insert(list, tonumber(o))
         end
         local size = #list > 0 and #body / #list or 0
         local ok = #list > 0 and size % RS == 0
         for i, o in ipairs(list) do
            ok = ok and is_records(body:sub((i - 1) * size + 1, i * size), o)
         end
         if not ok then
            complain("raw sample", status, body)
         end
      elseif headers["Sample-Records"] then -- /sample, json or multipart
         local n = tonumber(headers["Sample-Records"])
         if ctype:find("^multipart/byteranges") then
            if multipart_parts(body) ~= n then
               complain("multipart sample", status, body)
            end
         elseif not body:find('^{"file":"records.bin"') then
            complain("json sample", status, body)
         end
      elseif ctype == "application/octet-stream" then -- small-N.bin or empty.bin
         if #body % RS ~= 0 or not is_records(body, 0) then
            complain("small file", status, body)
         end
      elseif ctype:find("^text/plain") or ctype:find("^application/openmetrics") then
         if not body:find("mmapd_http_requests_total", 1, true) then
            complain("metrics", status, body)
         end
      elseif ctype == "application/json" then -- health, readiness, the listing
         if body ~= '{"status":"ok"}\n' and body ~= '{"status":"ready"}\n' and
            not body:find('"entries":', 1, true) then
            complain("json answer", status, body)
         end
      else
         complain("200 of an unknown type " .. ctype, status, body)
      end
   elseif status == 404 or status == 416 or status == 400 then
      if not body:find('"status":' .. status, 1, true) then
         complain("error answer", status, body)
      end
   end
end

function done(summary, latency, requests)
   local s, g, nbad = {}, {}, 0
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("sent") or {}) do
         s[k] = (s[k] or 0) + v
      end
      for k, v in pairs(t:get("got") or {}) do
         g[k] = (g[k] or 0) + v
      end
      nbad = nbad + (t:get("bad") or 0)
   end
   local out = {string.format("SOAK requests=%d bytes=%d bad=%d connect=%d read=%d write=%d "
                                 .. "status=%d timeout=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f",
                              summary.requests, summary.bytes, nbad, summary.errors.connect,
                              summary.errors.read, summary.errors.write, summary.errors.status,
                              summary.errors.timeout, latency:percentile(50) / 1000,
                              latency:percentile(99) / 1000, latency.max / 1000)}
   local keys = {}
   for k in pairs(s) do keys[k] = true end
   for k in pairs(g) do keys[k] = true end
   local sorted = {}
   for k in pairs(keys) do table.insert(sorted, k) end
   table.sort(sorted)
   for _, k in ipairs(sorted) do
      table.insert(out, string.format("sent%d=%d got%d=%d", k, s[k] or 0, k, g[k] or 0))
   end
   io.write(table.concat(out, " ") .. "\n")
end
