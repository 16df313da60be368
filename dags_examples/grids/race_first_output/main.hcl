# race_first_output: three mirrors race; `first_output` lets the next step
# start as soon as the first one succeeds, while `S[2]` waits for one
# specific instance only.

variable "base_url" {
  type = string
}

variable "delays_ms" {
  type    = list(number)
  default = [600, 50, 300]
}

step "http_request" "mirror" {
  count = length(var.delays_ms)
  arguments {
    url = "${var.base_url}/delay/${var.delays_ms[count.index]}"
  }
}

step "print" "fastest" {
  arguments {
    input = "first mirror answered in ${floor(http_request.mirror.first_output.duration_ms)} ms"
  }
}

step "print" "third" {
  arguments {
    input = "mirror #2 answered ${http_request.mirror[2].output.status_code}"
  }
}
