-- wrk script: POST the review in $REVIEW_FILE to /mutate; report percentiles and non-2xx answers.
local file = assert(io.open(os.getenv("REVIEW_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency)
  io.write(string.format("p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f requests=%d non200=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, summary.errors.status))
end
