local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"identifier":"bencher' .. (n % 4) .. '","password":"bench-otter-lantern-meadow-42-quartz"}')
end
