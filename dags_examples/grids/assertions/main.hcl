# assertions: check responses with the assert runner, make a status part of
# the contract with expect_status, and let a known-broken probe fail without
# failing the run (continue_on_error).

variable "base_url" {
  type = string
}

step "http_request" "health" {
  arguments {
    url           = "${var.base_url}/health"
    expect_status = ["2xx"]
  }
}

step "http_request" "item" {
  arguments {
    url = "${var.base_url}/items/3"
  }
}

step "assert" "item_contract" {
  arguments {
    value           = http_request.item.output
    status          = "2xx"
    json            = { "$.id" = "3", "$.name" = "item-3" }
    body_matches    = "item-[0-9]+"
    max_duration_ms = 2000
  }
}

step "assert" "healthy" {
  arguments {
    value   = http_request.health.output
    that    = http_request.health.output.json.ok == true
    message = "the health endpoint says ok"
  }
}

# This endpoint always answers 500: the step fails, the run goes on.
step "http_request" "known_broken" {
  continue_on_error = true
  arguments {
    url           = "${var.base_url}/status/500"
    expect_status = [200]
  }
}

step "print" "verdict" {
  arguments {
    input = "contract ok: ${assert.item_contract.output.passed}; broken probe status: ${http_request.known_broken.status}"
  }
}
