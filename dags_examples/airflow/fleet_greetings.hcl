# fleet_greetings: a for_each fan-out, an [each] chain (one mapped task group on
# Airflow: instance i of "shout" waits only for instance i of "greet"), and a
# step that reads them all. Trigger with {"team": ["ada", "linus"]} to override.

variable "team" {
  type    = list(string)
  default = ["ada", "grace", "linus"]
}

step "print" "greet" {
  for_each = toset(var.team)
  arguments { input = "hello ${each.key}" }
}

step "print" "shout" {
  arguments { input = upper(print.greet[each].output) }
}

step "print" "summary" {
  arguments { input = "${length(print.shout.output)} greetings: ${join(", ", print.shout.output)}" }
}
