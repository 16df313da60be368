# retries_and_timeouts: a flaky endpoint that fails twice before it answers,
# retried with exponential backoff; a slow endpoint under a timeout that it
# meets; delays around a step. The result shows attempts per step.

variable "base_url" {
  type = string
}

variable "run_key" {
  type        = string
  default     = "demo"
  description = "Flaky counters are per key on the server: change it to start afresh."
}

step "http_request" "flaky" {
  retry {
    attempts  = 4
    delay     = "100ms"
    backoff   = "exponential"
    max_delay = "1s"
  }
  arguments {
    # 503 twice per key, then 200; the uuid keeps reruns independent.
    url           = "${var.base_url}/flaky/${var.run_key}-${uuid()}/2"
    expect_status = ["2xx"]
  }
}

step "http_request" "slow_but_in_time" {
  timeout      = "5s"
  delay_before = "50ms"
  arguments {
    url     = "${var.base_url}/delay/300"
    timeout = "2s"
  }
}

step "print" "report" {
  delay_after = "10ms"
  arguments {
    input = "flaky answered ${http_request.flaky.output.status_code}; slow took ${floor(http_request.slow_but_in_time.output.duration_ms)} ms"
  }
}
