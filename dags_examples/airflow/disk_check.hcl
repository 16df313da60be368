# disk_check: local commands on the worker, an `if` that skips (dependents
# still run), and continue_on_error (the task ends green on Airflow, its record
# says failed, and the next step reads the error).

variable "min_free_mb" {
  type    = number
  default = 10
}

step "cmd" "free" {
  arguments { argv = ["sh", "-c", "df -Pm . | awk 'NR==2 {print $4}'"] }
}

step "print" "low_space" {
  if        = tonumber(trim(cmd.free.output.stdout, "\n")) < var.min_free_mb
  arguments { input = "less than ${var.min_free_mb} MB free" }
}

step "cmd" "optional_tool" {
  continue_on_error = true
  arguments { argv = ["sh", "-c", "command -v some-tool-that-is-not-installed"] }
}

step "print" "report" {
  arguments {
    input = "free=${trim(cmd.free.output.stdout, "\n")}MB low_space=${step.print.low_space.status} tool=${step.cmd.optional_tool.status}"
  }
}
