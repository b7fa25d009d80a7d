-- wrk script: POST the benchmark's webhook body (file given after `--`),
-- so wrk's rate is the ceiling for any sender of the same request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
end
