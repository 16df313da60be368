environment = "staging"
run_soak    = true
