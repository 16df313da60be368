# env_and_cmd: read environment variables (secret-looking values are masked
# in logs and results) and run local commands, argv-style and through a shell.

variable "base_url" {
  type = string
}

step "env_vars" "env" {
  arguments {
    include  = ["HOME", "DEMO_API_TOKEN"]
    defaults = { DEMO_API_TOKEN = "not-a-real-token" }
  }
}

step "cmd" "python_version" {
  arguments {
    argv = ["python3", "-c", "import sys; print(sys.version.split()[0])"]
  }
}

step "cmd" "count_lines" {
  timeout = "10s"
  arguments {
    shell = "printf 'a\\nb\\nc\\n' | wc -l"
  }
}

step "print" "report" {
  arguments {
    input = "python ${trimspace(cmd.python_version.output.stdout)}, ${trimspace(cmd.count_lines.output.stdout)} lines, token ${env_vars.env.output.vars.DEMO_API_TOKEN}"
  }
}
