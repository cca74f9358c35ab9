-- wrk reporter for bench/run.sh: one machine-readable line per run, with
-- latencies in microseconds, so the script never parses wrk's human output.
--   RESULT requests=N seconds=S rps=R p50_us=A p99_us=B errors=E
-- errors counts every request that did not end in 2xx/3xx: socket errors
-- (connect, read, write, timeout) and non-2xx/3xx statuses.
done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
