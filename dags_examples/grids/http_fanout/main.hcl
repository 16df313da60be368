# http_fanout: the grid `make run` runs.
#
# Lists the demo server's items, fetches every item through one shared HTTP
# client (one connection pool, at most 3 requests in flight), then checks
# each response in its own [each] clone, and ends with one summary step
# that waits for all of them.

variable "base_url" {
  type        = string
  description = "Where the demo server listens (examples/run_example.py passes it)."
}

resource "http_client" "api" {
  arguments {
    base_url  = var.base_url
    headers   = { "X-Grid" = "http_fanout" }
    pool_size = 10
  }
}

step "http_request" "list_items" {
  uses { client = resource.http_client.api }
  arguments {
    url           = "/items"
    expect_status = ["2xx"]
  }
}

# Dynamic fan-out: one instance per item the server returned.
step "http_request" "get_item" {
  for_each = toset(http_request.list_items.output.json)
  uses { client = resource.http_client.api }
  concurrency { limit = 3 }
  retry {
    attempts = 3
    delay    = "200ms"
  }
  arguments {
    url           = "/items/${each.key}"
    expect_status = [200]
  }
}

# Cloned per item: instance "3" waits only for get_item["3"].
step "assert" "item_ok" {
  arguments {
    value = http_request.get_item[each].output
    status = 200
    json   = { "$.id" = each.key }
  }
}

step "print" "summary" {
  arguments {
    input = format(
      "fetched %d items (%s) in %.0f ms at most",
      length(http_request.get_item.output),
      join(", ", [for r in http_request.get_item.output : r.json.name]),
      max([for r in http_request.get_item.output : r.duration_ms]...),
    )
  }
  depends_on = ["assert.item_ok"]
}
