-- wrk script: POST the review in $REVIEW_FILE to /mutate (keep-alive). At the end, one
-- parseable line (latencies in ms; wrk's --latency table stops at p99):
--   bench: requests=… duration_s=… rps=… mean_ms=… p50_ms=… p75_ms=… p90_ms=… p99_ms=…
--          p999_ms=… max_ms=… connect_errors=… read_errors=… write_errors=…
--          timeout_errors=… non2xx=… errors=…
-- (non2xx is wrk's errors.status: answers with a status above 399.)
local file = assert(io.open(assert(os.getenv("REVIEW_FILE"), "set REVIEW_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local function ms(us) return us / 1000 end
  io.write(string.format(
    "bench: requests=%d duration_s=%.3f rps=%.1f mean_ms=%.3f p50_ms=%.3f p75_ms=%.3f p90_ms=%.3f " ..
    "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f connect_errors=%d read_errors=%d write_errors=%d " ..
    "timeout_errors=%d non2xx=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds, ms(latency.mean),
    ms(latency:percentile(50)), ms(latency:percentile(75)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency:percentile(99.9)), ms(latency.max),
    e.connect, e.read, e.write, e.timeout, e.status,
    e.connect + e.read + e.write + e.timeout + e.status))
end
