-- POST /api/v1/projects, then DELETE of what it made: each thread deletes the projects it
-- created, so the user's total stays small.
wrk.headers["Content-Type"] = "application/json"
local pending = {}
local made = 0
local tag = string.gsub(tostring({}), "table: ", "")
request = function()
  local id = table.remove(pending)
  if id then
    return wrk.format("DELETE", "/api/v1/projects/" .. id)
  end
  made = made + 1
  return wrk.format("POST", "/api/v1/projects", nil,
    '{"name": "bench ' .. tag .. ' ' .. made .. '", "description": "made by wrk"}')
end
response = function(status, headers, body)
  local location = headers["Location"]
  if status == 201 and location then
    table.insert(pending, string.match(location, "project%-%d+"))
  end
end
