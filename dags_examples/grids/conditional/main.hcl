# conditional: `if` skips a step, values come from a profile
# (`--profile staging` reads profiles/staging.hcl), and skipped steps show
# as skipped in the result.

variable "base_url" {
  type = string
}

variable "environment" {
  type    = string
  default = "dev"
}

variable "run_smoke" {
  type    = bool
  default = true
}

variable "run_soak" {
  type    = bool
  default = false
}

step "http_request" "smoke" {
  if = var.run_smoke
  arguments {
    url = "${var.base_url}/health"
  }
}

step "http_request" "soak" {
  if = var.run_soak && var.environment != "prod"
  arguments {
    url = "${var.base_url}/delay/100"
  }
}

step "print" "summary" {
  arguments {
    input = "env=${var.environment} smoke=${step.http_request.smoke.status} soak=${step.http_request.soak.status}"
  }
}
