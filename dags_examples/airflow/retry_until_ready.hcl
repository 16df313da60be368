# retry_until_ready: Airflow retries with exponential backoff. The first two
# tries fail (the marker file counts them), the third succeeds; the result's
# attempts is Airflow's try number.

variable "marker" {
  type    = string
  default = "/tmp/gridflow-retry-until-ready"
}

step "cmd" "reset" {
  arguments { argv = ["rm", "-f", var.marker] }
}

step "cmd" "flaky" {
  depends_on = [cmd.reset]
  retry {
    attempts = 3
    delay    = "1s"
    backoff  = "exponential"
  }
  timeout = "10s"
  arguments {
    shell = "echo x >> ${var.marker}; test $(wc -l < ${var.marker}) -ge 3"
  }
}

step "cmd" "tries" {
  depends_on = [cmd.flaky]
  arguments { shell = "wc -l < ${var.marker}" }
}

step "print" "done" {
  arguments { input = "ready after ${trim(cmd.tries.output.stdout, " \n")} tries" }
}
