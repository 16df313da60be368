# hello: variables, locals, templates, functions and a count fan-out.
# No HTTP at all: `gridflow run dags_examples/grids/hello --engine local`.

variable "base_url" {
  type    = string
  default = "http://127.0.0.1:8080"
}

variable "who" {
  type    = list(string)
  default = ["ada", "grace", "linus"]
}

locals {
  greeting = "hello"
  shouting = [for name in var.who : upper(name)]
}

step "print" "greet" {
  count = length(var.who)
  arguments {
    input = "${local.greeting}, ${title(var.who[count.index])} (#${count.index + 1})"
  }
}

step "print" "banner" {
  arguments {
    input = <<-EOT
      %{ for i, name in local.shouting }${name}%{ if i < length(local.shouting) - 1 }, %{ endif }%{ endfor }
      said ${length(print.greet.output)} greetings
    EOT
  }
}
