# dynamic_fanout: how many instances run is decided by an upstream response.
# The server echoes a list back; one instance runs per element, and a
# splat collects their outputs.

variable "base_url" {
  type = string
}

variable "batch" {
  type    = number
  default = 4
}

step "http_request" "plan" {
  arguments {
    url    = "${var.base_url}/echo"
    method = "POST"
    json   = { work = [for i in range(var.batch) : "job-${i}"] }
  }
}

step "http_request" "work" {
  count = length(http_request.plan.output.json.json.work)
  arguments {
    url = "${var.base_url}/delay/${(count.index + 1) * 20}"
  }
}

step "print" "done" {
  arguments {
    input = {
      jobs     = http_request.plan.output.json.json.work
      statuses = http_request.work[*].output.status_code
    }
  }
}
