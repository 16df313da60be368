# ruff: noqa: E501 - rows of grid text and exact messages read best unwrapped
"""Every malformed grid gets exact, actionable messages: file:line:col, what, how to fix.

Each row is a grid (main.hcl) and the complete list of diagnostics expected,
as ``gridflow validate`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflow.errors import LoadError
from gridflow.translators.hcl import load_grid

CASES: dict[str, tuple[str, list[str]]] = {
    "syntax-unclosed-block": (
        'step "print" "a" {\n  arguments { input = "x" }\n',
        [
            'main.hcl:3:1: error: syntax error: unexpected end of file [syntax]\n  hint: a block is not closed: add the missing "}"'
        ],
    ),
    "syntax-missing-value": (
        'step "print" "a" {\n  arguments { input = }\n}\n',
        [
            'main.hcl:2:23: error: syntax error: unexpected "}" [syntax]\n  hint: expected a value (a string, number, list, object or expression)'
        ],
    ),
    "syntax-extra-brace": (
        'step "print" "a" {\n  arguments { input = "x" }\n}\n}\n',
        [
            'main.hcl:4:1: error: syntax error: unexpected "}" [syntax]\n  hint: expected the end of the file'
        ],
    ),
    "syntax-unclosed-list": (
        "locals {\n  xs = [1, 2\n}\n",
        [
            'main.hcl:3:1: error: syntax error: unexpected "}" [syntax]\n  hint: expected ",", "]" or a new line'
        ],
    ),
    "syntax-dangling-operator": (
        "locals {\n  x = 1 +\n}\n",
        [
            'main.hcl:3:1: error: syntax error: unexpected "}" [syntax]\n  hint: expected a value (a string, number, list, object or expression)'
        ],
    ),
    "bare-duration-s": (
        'step "print" "a" {\n  timeout = 2s\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:13: error: durations are strings: write "2s" [bare-duration]\n  hint: put the duration in quotes, e.g. timeout = "2s"'
        ],
    ),
    "bare-duration-ms": (
        'step "print" "a" {\n  retry {\n    attempts = 2\n    delay = 500ms\n  }\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:4:13: error: durations are strings: write "500ms" [bare-duration]\n  hint: put the duration in quotes, e.g. delay = "500ms"'
        ],
    ),
    "unknown-runner": (
        'step "http_reqest" "a" {\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:1:1: error: unknown runner "http_reqest" [unknown-runner]\n  hint: did you mean "http_request"?'
        ],
    ),
    "unknown-argument": (
        'step "print" "a" {\n  arguments { inpt = "x" }\n}\n',
        [
            'main.hcl:2:15: error: unknown argument "inpt" for step "print.a" [unknown-argument]\n  hint: did you mean "input"?'
        ],
    ),
    "missing-argument": (
        'step "http_request" "a" {\n  arguments { method = "GET" }\n}\n',
        [
            'main.hcl:2:3: error: step "http_request.a" needs the argument "url" [missing-argument]\n  hint: add url = ... to its arguments block'
        ],
    ),
    "wrong-argument-type": (
        'step "http_request" "a" {\n  arguments {\n    url     = "http://127.0.0.1"\n    timeout = "soon"\n  }\n}\n',
        [
            'main.hcl:4:5: error: argument "timeout" of step "http_request.a": invalid duration "soon": use seconds as a number or a string such as "500ms", "2s" or "1m30s" [argument-type]\n  hint: change the value of timeout'
        ],
    ),
    "unknown-variable": (
        'variable "base_url" { default = "x" }\nstep "print" "a" {\n  arguments { input = var.base_ur }\n}\n',
        [
            'main.hcl:3:23: error: unknown variable "var.base_ur" [unknown-variable]\n  hint: did you mean "base_url"?'
        ],
    ),
    "unknown-local": (
        'locals { greeting = "hi" }\nstep "print" "a" {\n  arguments { input = local.greting }\n}\n',
        [
            'main.hcl:3:23: error: unknown local "local.greting" [unknown-local]\n  hint: did you mean "greeting"?'
        ],
    ),
    "unknown-step-long": (
        'step "print" "a" {\n  arguments { input = step.print.b.output }\n}\n',
        [
            'main.hcl:2:23: error: unknown step "print.b" [unknown-step]\n  hint: did you mean "print.a"?'
        ],
    ),
    "unknown-step-short": (
        'step "print" "first" {\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  arguments { input = print.frist.output }\n}\n',
        [
            'main.hcl:5:23: error: unknown step "print.frist" [unknown-step]\n  hint: did you mean "print.first"?'
        ],
    ),
    "unknown-resource": (
        'step "http_request" "a" {\n  uses { client = resource.http_client.ap }\n  arguments { url = "/x" }\n}\n',
        [
            'main.hcl:2:19: error: unknown resource "http_client.ap" [unknown-resource]\n  hint: declare it with a resource block'
        ],
    ),
    "unknown-function": (
        'step "print" "a" {\n  arguments { input = uper("x") }\n}\n',
        [
            'main.hcl:2:23: error: unknown function "uper" [unknown-function]\n  hint: did you mean "upper"?'
        ],
    ),
    "unknown-name": (
        'step "print" "a" {\n  arguments { input = foo }\n}\n',
        [
            'main.hcl:2:23: error: unknown name "foo" [unknown-name]\n  hint: names start with var., local., step., resource., each. or count.'
        ],
    ),
    "duplicate-step": (
        'step "print" "a" {\n  arguments { input = "x" }\n}\nstep "print" "a" {\n  arguments { input = "y" }\n}\n',
        [
            'main.hcl:4:1: error: step "print.a" is declared twice (first at main.hcl:1:1) [duplicate-step]\n  hint: rename or remove one of them'
        ],
    ),
    "duplicate-variable": (
        'variable "n" { default = 1 }\nvariable "n" { default = 2 }\n',
        [
            'main.hcl:2:1: error: variable "n" is declared twice (first at main.hcl:1:1) [duplicate-variable]\n  hint: rename or remove one of them'
        ],
    ),
    "duplicate-local": (
        "locals { a = 1 }\nlocals { a = 2 }\n",
        [
            'main.hcl:2:10: error: local "a" is defined twice (first at main.hcl:1:10) [duplicate-local]\n  hint: rename or remove one of them'
        ],
    ),
    "bad-depends-on": (
        'step "print" "a" {\n  depends_on = ["nonsense"]\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:17: error: depends_on entry string "nonsense" is not a step reference [bad-depends-on]\n  hint: write the step as "<runner>.<name>", e.g. "print.start" or "http_request.get[0]"'
        ],
    ),
    "depends-on-unknown": (
        'step "print" "a" {\n  depends_on = ["print.zz"]\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:17: error: unknown step "print.zz" [unknown-step]\n  hint: did you mean "print.a"?'
        ],
    ),
    "cycle": (
        'step "print" "a" {\n  arguments { input = print.b.output }\n}\nstep "print" "b" {\n  arguments { input = print.a.output }\n}\n',
        [
            "main.hcl:1:1: error: steps depend on each other in a cycle: step print.a -> print.b -> print.a [cycle]\n  hint: remove one of the references or depends_on entries in the cycle"
        ],
    ),
    "self-reference": (
        'step "print" "a" {\n  arguments { input = print.a.output }\n}\n',
        [
            'main.hcl:2:23: error: step "print.a" refers to itself [self-reference]\n  hint: a step can use only the outputs of other steps'
        ],
    ),
    "count-and-for-each": (
        'step "print" "a" {\n  count    = 2\n  for_each = toset(["x"])\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:3:3: error: step "print.a" sets both count and for_each [count-and-for-each]\n  hint: use one of them'
        ],
    ),
    "for-each-number": (
        'step "print" "a" {\n  for_each = 3\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: for_each of step "print.a": fan-out over a non-collection: for_each needs a map or a set of strings, got number 3 [bad-fan-out]\n  hint: for a number of instances use count'
        ],
    ),
    "count-negative": (
        'step "print" "a" {\n  count = -1\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: count of step "print.a": count cannot be negative, got -1 [bad-fan-out]\n  hint: use 0 to run no instances'
        ],
    ),
    "each-not-fanned": (
        'step "print" "a" {\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  arguments { input = print.a[each].output }\n}\n',
        [
            'main.hcl:5:23: error: "print.a[each]": step "print.a" is not fanned out [each-not-fanned]\n  hint: [each] follows the instances of a step with count or for_each; use print.a.output instead'
        ],
    ),
    "count-index-outside": (
        'step "print" "a" {\n  arguments { input = count.index }\n}\n',
        [
            'main.hcl:2:23: error: "count.index" used in step "print.a", which has no count [count-outside]\n  hint: add count = N to the step, or remove the reference'
        ],
    ),
    "each-outside": (
        'step "print" "a" {\n  count = 2\n  arguments { input = each.key }\n}\n',
        [
            'main.hcl:3:23: error: "each" used in step "print.a", which has no for_each [each-outside]\n  hint: add for_each to the step, or remove the reference'
        ],
    ),
    "unknown-meta-argument": (
        'step "print" "a" {\n  retries = 3\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: unknown attribute "retries" in step "print.a" [unknown-attribute]\n  hint: allowed here: count, for_each, depends_on, timeout, delay_before, delay_after, if, abort_if_false, continue_on_error, sensitive, mode, rate, duration, shards, abort_on_fail'
        ],
    ),
    "unknown-block": (
        'stpe "print" "a" {\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:1:1: error: unknown block type "stpe" [unknown-block]\n  hint: did you mean "step"?'
        ],
    ),
    "burst-mode-without-fan-out": (
        'step "http_request" "a" {\n  mode = "burst"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:3: error: step "http_request.a" sets mode = "burst" but is not fanned out: only a step with count, for_each or rate runs as a burst [burst-without-fan-out]\n  hint: add count = N (closed model) or rate and duration (open model)',
        ],
    ),
    "bad-mode": (
        'step "http_request" "a" {\n  count = 2\n  mode = "fast"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:3:3: error: mode of step "http_request.a" must be "auto", "burst" or "tasks", got string "fast" [bad-mode]\n  hint: write mode = "burst" to run every instance in one task',
        ],
    ),
    "threshold-unknown-metric": (
        'step "http_request" "a" {\n  count = 2\n  thresholds {\n    p95 = "200ms"\n  }\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:4:5: error: unknown attribute "p95" in the thresholds block of step "http_request.a" [unknown-attribute]\n  hint: allowed here: latency, error_rate, rps, requests, failures, dropped',
        ],
    ),
    "threshold-bad-condition": (
        'step "http_request" "a" {\n  count = 2\n  thresholds {\n    latency = ["p(95) < 200ms", "p95 under 1s"]\n    error_rate = "< 5ms"\n  }\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:4:5: error: threshold latency of step "http_request.a": "p95 under 1s" is not a condition: write [aggregate] <op> <number>[unit], e.g. "p(95) < 300ms" [bad-threshold]',
            'main.hcl:5:5: error: threshold error_rate of step "http_request.a": "< 5ms": error_rate takes a plain number, not ms [bad-threshold]',
        ],
    ),
    "threshold-latency-without-aggregate": (
        'step "http_request" "a" {\n  count = 2\n  thresholds {\n    latency = "< 200ms"\n  }\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:4:5: error: threshold latency of step "http_request.a": "< 200ms": say which latency to check: avg, min, med, max or p(N), e.g. "p(95) < 300ms" [bad-threshold]',
        ],
    ),
    "bad-rate": (
        'step "http_request" "a" {\n  rate = "fast"\n  duration = "10s"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:3: error: rate of step "http_request.a": "fast" is not a rate: write "500/s", "30/m" or "5/100ms" [bad-rate]',
        ],
    ),
    "rate-without-end": (
        'step "http_request" "a" {\n  rate = "10/s"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:3: error: step "http_request.a" sets a rate but neither duration nor count: the burst would not end [rate-without-end]\n  hint: add duration = "60s" (or count = N to stop after N arrivals)',
        ],
    ),
    "tasks-with-burst-settings": (
        'step "http_request" "a" {\n  count = 5\n  mode = "tasks"\n  shards = 2\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:3:3: error: step "http_request.a" sets mode = "tasks" and shards, which only a burst has [tasks-with-burst-settings]\n  hint: remove mode = "tasks", or the burst settings',
        ],
    ),
    "bad-shards": (
        'step "http_request" "a" {\n  count = 5\n  shards = 0\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:3:3: error: shards of step "http_request.a" must be a whole number from 1 to 1000, got number 0 [bad-shards]\n  hint: write shards = 4',
        ],
    ),
    "duration-without-rate": (
        'step "http_request" "a" {\n  duration = "10s"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:3: error: step "http_request.a" sets duration but is not fanned out: only a step with count, for_each or rate runs as a burst [burst-without-fan-out]\n  hint: add count = N (closed model) or rate and duration (open model)',
        ],
    ),
    "rate-with-for-each": (
        'step "http_request" "a" {\n  for_each = toset(["a"])\n  rate = "5/s"\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:3:3: error: step "http_request.a" sets rate with for_each: arrivals at a rate are counted, not keyed [rate-with-for-each]\n  hint: use count = N with the rate, or drop the rate',
        ],
    ),
    "huge-range": (
        'step "print" "a" {\n  count = length(range(100000000))\n  arguments { input = "x" }\n}\n',
        [
            "main.hcl:2:18: error: range() would have 100000000 elements, more than the limit of 1000000 [expression]\n  hint: use a smaller range"
        ],
    ),
    "wrong-default-type": (
        'variable "n" {\n  type    = number\n  default = "abc"\n}\n',
        [
            'main.hcl:3:3: error: the default of variable "n" does not match its type number: expected number, got string "abc" [type-mismatch]\n  hint: change the default or the type'
        ],
    ),
    "unknown-type": (
        'variable "n" {\n  type = strng\n}\n',
        [
            'main.hcl:2:10: error: unknown type "strng" [unknown-type]\n  hint: did you mean "string"?'
        ],
    ),
    "uses-wrong-slot": (
        'resource "http_client" "api" {\n  arguments { base_url = "http://127.0.0.1" }\n}\nstep "http_request" "a" {\n  uses { clinet = resource.http_client.api }\n  arguments { url = "/x" }\n}\n',
        [
            'main.hcl:5:10: error: step "http_request.a" has no uses slot "clinet" [unknown-slot]\n  hint: did you mean "client"?'
        ],
    ),
    "retry-attempts-zero": (
        'step "print" "a" {\n  retry { attempts = 0 }\n  arguments { input = "x" }\n}\n',
        [
            "main.hcl:2:11: error: retry attempts must be a whole number of at least 1, got number 0 [bad-retry]\n  hint: attempts counts the first try: attempts = 3 tries up to three times"
        ],
    ),
    "bad-duration-string": (
        'step "print" "a" {\n  timeout = "2x"\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: timeout: invalid duration "2x": use seconds as a number or a string such as "500ms", "2s" or "1m30s" [bad-duration]\n  hint: e.g. timeout = "30s"'
        ],
    ),
    "locals-cycle": (
        "locals {\n  a = local.b\n  b = local.a\n}\n",
        [
            "main.hcl:2:3: error: locals refer to each other in a cycle: local.a -> local.b -> local.a [cycle]\n  hint: break the cycle"
        ],
    ),
    "top-level-attribute": (
        "x = 1\n",
        [
            'main.hcl:1:1: error: "x" cannot be set at the top level of a grid [top-level-attribute]\n  hint: put values in a locals { } block or a variable default'
        ],
    ),
    "for-each-list-of-numbers": (
        'step "print" "a" {\n  for_each = [1, 2]\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: for_each of step "print.a": for_each over a list needs strings, found number 1 [bad-fan-out]\n  hint: use toset([...]) of strings, or a map',
        ],
    ),
    "for-each-duplicates": (
        'step "print" "a" {\n  for_each = ["a", "a"]\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: for_each of step "print.a": for_each has duplicate keys [bad-fan-out]\n  hint: use toset(...) to remove duplicates',
        ],
    ),
    "each-and-fan-out": (
        'step "print" "a" {\n  count = 2\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  count = 2\n  arguments { input = print.a[each].output }\n}\n',
        [
            'main.hcl:5:1: error: step "print.b" uses [each] and also sets count [each-and-fan-out]\n  hint: an [each] step is cloned per instance already; remove the count/for_each',
        ],
    ),
    "each-mixed-chains": (
        'step "print" "a" {\n  count = 2\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  count = 3\n  arguments { input = "y" }\n}\nstep "print" "c" {\n  arguments { input = [print.a[each].output, print.b[each].output] }\n}\n',
        [
            'main.hcl:10:46: error: step "print.c" follows [each] of "print.a" and of "print.b", which fan out separately [each-mixed]\n  hint: an [each] step can follow only one chain of fanned-out steps',
        ],
    ),
    "each-in-fan-out": (
        'step "print" "a" {\n  count = 2\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  count = length(print.a[each].output)\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:6:3: error: the count of step "print.b" uses [each] [each-in-fan-out]\n  hint: fan out over a whole step\'s outputs instead',
        ],
    ),
    "count-index-in-for-each-chain": (
        'step "print" "a" {\n  for_each = toset(["x"])\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  arguments { input = "${count.index} ${print.a[each].output}" }\n}\n',
        [
            'main.hcl:6:26: error: "count.index" used in step "print.b", whose chain root "print.a" has no count [count-outside]\n  hint: use each.key / each.value',
        ],
    ),
    "each-attribute-typo": (
        'step "print" "a" {\n  for_each = toset(["x"])\n  arguments { input = each.vaule }\n}\n',
        [
            'main.hcl:3:23: error: "each" has "key" and "value", not "vaule" [unknown-attribute]\n  hint: use each.key or each.value',
        ],
    ),
    "unknown-resource-type": (
        'resource "http_clinet" "api" {\n  arguments { base_url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:1:1: error: unknown resource type "http_clinet" [unknown-resource-type]\n  hint: did you mean "http_client"?',
        ],
    ),
    "unknown-resource-argument": (
        'resource "http_client" "api" {\n  arguments { base_ur = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:15: error: unknown argument "base_ur" for resource "http_client.api" [unknown-argument]\n  hint: did you mean "base_url"?',
        ],
    ),
    "uses-not-a-resource": (
        'step "http_request" "a" {\n  uses { client = "api" }\n  arguments { url = "/x" }\n}\n',
        [
            'main.hcl:2:10: error: uses "client" of step "http_request.a" must name a resource [bad-uses]\n  hint: write client = resource.<type>.<name>',
        ],
    ),
    "uses-on-runner-without-slots": (
        'resource "http_client" "api" {\n  arguments { base_url = "http://127.0.0.1" }\n}\nstep "print" "a" {\n  uses { client = resource.http_client.api }\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:5:10: error: step "print.a" has no uses slot "client" [unknown-slot]\n  hint: runner "print" uses no resources',
        ],
    ),
    "local-refers-to-step": (
        'locals { x = print.a.output }\nstep "print" "a" {\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:1:10: error: local "x" refers to a step [local-step-ref]\n  hint: locals are computed before any step runs; put this expression in the step\'s arguments',
        ],
    ),
    "count-fraction": (
        'step "print" "a" {\n  count = 1.5\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: count of step "print.a": count must be a whole number, got number 1.5 [bad-fan-out]\n  hint: write count = 3, or count = length(var.items)',
        ],
    ),
    "not-implemented-several": (
        'step "http_request" "a" {\n  throttle = "5m"\n  on_fail  = "print.x"\n  faults {\n    latency = "1s"\n  }\n  arguments { url = "http://127.0.0.1" }\n}\n',
        [
            'main.hcl:2:3: error: "throttle" is planned but not available in this version of gridflow [not-implemented]\n  hint: remove it for now; see the README\'s status list',
            'main.hcl:3:3: error: "on_fail" is planned but not available in this version of gridflow [not-implemented]\n  hint: remove it for now; see the README\'s status list',
            'main.hcl:4:3: error: "faults" is planned but not available in this version of gridflow [not-implemented]\n  hint: remove it for now; see the README\'s status list',
        ],
    ),
    "syntax-unclosed-string": (
        'locals {\n  a = "abc\n}\n',
        [
            'main.hcl:2:7: error: syntax error: this string is not closed [syntax]\n  hint: add the closing "; for text on several lines use a heredoc (<<EOT ... EOT)',
        ],
    ),
    "syntax-bad-character": (
        "locals {\n  a = @\n}\n",
        [
            'main.hcl:2:7: error: syntax error: unexpected "@" [syntax]\n  hint: expected a value (a string, number, list, object or expression)',
        ],
    ),
    "bare-duration-in-one-line-block": (
        'step "print" "x" {\n  arguments { input = 2s }\n}\n',
        [
            'main.hcl:2:23: error: durations are strings: write "2s" [bare-duration]\n  hint: put the duration in quotes, e.g. input = "2s"'
        ],
    ),
    "bare-duration-compound": (
        'step "print" "a" {\n  delay_before = 1m30s\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:18: error: durations are strings: write "1m30s" [bare-duration]\n  hint: put the duration in quotes, e.g. delay_before = "1m30s"',
        ],
    ),
    "depends-on-not-a-list": (
        'step "print" "a" {\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  depends_on = "print.a"\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:5:3: error: depends_on must be a list of steps [bad-depends-on]\n  hint: write depends_on = ["print.start"]',
        ],
    ),
    "depends-on-bad-index": (
        'step "print" "a" {\n  count = 2\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  depends_on = ["print.a[x]"]\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:6:17: error: depends_on entry string "print.a[x]" is not a step reference [bad-depends-on]\n  hint: write the step as "<runner>.<name>", e.g. "print.start" or "http_request.get[0]"',
        ],
    ),
    "cycle-of-three-via-depends-on": (
        'step "print" "a" {\n  arguments { input = print.c.output }\n}\nstep "print" "b" {\n  arguments { input = print.a.output }\n}\nstep "print" "c" {\n  depends_on = ["print.b"]\n  arguments { input = "x" }\n}\n',
        [
            "main.hcl:1:1: error: steps depend on each other in a cycle: step print.a -> print.b -> print.c -> print.a [cycle]\n  hint: remove one of the references or depends_on entries in the cycle",
        ],
    ),
    "provider-function": (
        'step "print" "a" {\n  arguments { input = provider::x::y(1) }\n}\n',
        [
            'main.hcl:2:23: error: provider functions ("provider::x::y") are not supported [expression]\n  hint: call a built-in function instead',
        ],
    ),
    "unknown-variable-attribute": (
        'variable "a" {\n  defualt = 1\n}\n',
        [
            'main.hcl:2:3: error: unknown attribute "defualt" in variable "a" [unknown-attribute]\n  hint: did you mean "default"?',
        ],
    ),
    "step-with-one-label": (
        'step "print" {\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:1:1: error: a step block has two labels: step "<runner>" "<name>" { } [block-labels]',
        ],
    ),
    "retry-backoff": (
        'step "print" "a" {\n  retry {\n    attempts = 2\n    backoff  = "linear"\n  }\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:4:5: error: retry backoff must be "fixed" or "exponential", got string "linear" [bad-retry]\n  hint: write backoff = "exponential"',
        ],
    ),
    "concurrency-zero": (
        'step "print" "a" {\n  concurrency { limit = 0 }\n  arguments { input = "x" }\n}\n',
        [
            "main.hcl:2:17: error: concurrency limit must be a whole number of at least 1, got number 0 [bad-concurrency]\n  hint: write limit = 5",
        ],
    ),
    "flag-not-bool": (
        'step "print" "a" {\n  continue_on_error = "yes"\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:2:3: error: "continue_on_error" must be true or false, got string "yes" [wrong-type]\n  hint: write continue_on_error = true',
        ],
    ),
    "argument-types": (
        'step "http_request" "a" {\n  arguments {\n    url              = "http://127.0.0.1"\n    method           = 5\n    follow_redirects = "maybe"\n    headers          = { a = [1] }\n    max_body_bytes   = -1\n    auth             = { type = "bearer" }\n  }\n}\n',
        [
            'main.hcl:4:5: error: argument "method" of step "http_request.a": expected a string, got number 5 [argument-type]\n  hint: change method to a string',
            'main.hcl:5:5: error: argument "follow_redirects" of step "http_request.a": expected true or false, got string "maybe" [argument-type]\n  hint: change follow_redirects to true or false',
            'main.hcl:6:5: error: argument "headers" of step "http_request.a": expected a string at ["a"], got list [argument-type]\n  hint: change headers["a"] to a string',
            'main.hcl:7:5: error: argument "max_body_bytes" of step "http_request.a": expected a number greater than or equal to 0, got number -1 [argument-type]\n  hint: change max_body_bytes to a number greater than or equal to 0',
            'main.hcl:8:5: error: argument "auth" of step "http_request.a": auth["bearer"] needs "token" [argument-type]\n  hint: add token = ... to auth["bearer"]',
        ],
    ),
    "argument-empty-and-extra-key": (
        'step "http_request" "a" {\n  arguments {\n    url  = ""\n    auth = { type = "bearer", token = "x", extra = 1 }\n  }\n}\n',
        [
            'main.hcl:3:5: error: argument "url" of step "http_request.a": expected at least 1 character, got string "" [argument-type]\n  hint: change url to at least 1 character',
            'main.hcl:4:5: error: argument "auth" of step "http_request.a": auth["bearer"] has no key "extra" [argument-type]\n  hint: remove "extra" from auth["bearer"]',
        ],
    ),
    "expression-error-at-load": (
        'step "print" "a" {\n  timeout = 1 / "x"\n  arguments { input = "x" }\n}\n',
        [
            "main.hcl:2:13: error: operator / needs numbers, got string [expression]\n  hint: convert strings with tonumber(...)",
        ],
    ),
    "validation-fails": (
        'variable "port" {\n  type    = number\n  default = 70000\n  validation {\n    condition     = var.port > 0 && var.port < 65536\n    error_message = "port must be between 1 and 65535"\n  }\n}\n',
        [
            'main.hcl:5:5: error: invalid value for variable "port": port must be between 1 and 65535 [variable-validation]\n  hint: give var.port a value for which var.port > 0 && var.port < 65536 is true',
        ],
    ),
    "validation-malformed": (
        'variable "name" {\n  type    = string\n  default = "x"\n  validation {\n    condition     = var.port > 1\n    error_message = "no"\n  }\n  validation {\n    condtion = true\n  }\n}\n',
        [
            'main.hcl:5:21: error: the condition of the validation block of variable "name" refers to "var.port" [validation-reference]\n  hint: a validation checks only its own variable: use var.name',
            'main.hcl:8:3: error: the validation block of variable "name" needs condition and error_message [missing-argument]\n  hint: add condition = <a check of var.name> and error_message = "<why the value is wrong>"',
            'main.hcl:9:5: error: unknown attribute "condtion" in the validation block of variable "name" [unknown-attribute]\n  hint: did you mean "condition"?',
        ],
    ),
    "argument-block-not-attribute": (
        'step "http_request" "a" {\n  arguments {\n    url = "http://127.0.0.1"\n    headers {\n      a = "b"\n    }\n  }\n}\n',
        [
            'main.hcl:4:5: error: "headers { }" is a block; arguments are written name = value [argument-block]\n  hint: write headers = { ... }',
        ],
    ),
    "nullable-false-with-null-default": (
        'variable "a" {\n  nullable = false\n  default  = null\n}\n',
        [
            'main.hcl:3:3: error: variable "a" sets nullable = false, so its default cannot be null [null-default]\n  hint: give it a non-null default, or remove the default to make the variable required'
        ],
    ),
    "incomplete-step-reference": (
        'step "print" "a" {\n  count = 1\n  arguments { input = "x" }\n}\nstep "print" "b" {\n  arguments { input = step.print[0] }\n}\n',
        [
            "main.hcl:6:23: error: incomplete reference: write step.<runner>.<name> [incomplete-reference]\n  hint: e.g. step.print.start.output"
        ],
    ),
    "incomplete-var-reference": (
        'variable "x" { default = 1 }\nstep "print" "a" {\n  arguments { input = var["x"] }\n}\n',
        [
            "main.hcl:3:23: error: incomplete reference: write var.<name> [incomplete-reference]\n  hint: e.g. var.base_url"
        ],
    ),
    "duplicate-meta-blocks": (
        'step "print" "a" {\n  retry { attempts = 2 }\n  retry { attempts = 3 }\n  concurrency { limit = 1 }\n  concurrency { limit = 2 }\n  arguments { input = "x" }\n}\n',
        [
            'main.hcl:3:3: error: step "print.a" has more than one retry block [duplicate-block]\n  hint: merge them into one',
            'main.hcl:5:3: error: step "print.a" has more than one concurrency block [duplicate-block]\n  hint: merge them into one',
        ],
    ),
    "uses-slot-as-block": (
        'step "http_request" "a" {\n  uses {\n    client {\n      x = 1\n    }\n  }\n  arguments { url = "/x" }\n}\n',
        [
            'main.hcl:3:5: error: uses "client" of step "http_request.a" is written as a block [bad-uses]\n  hint: write client = resource.<type>.<name>'
        ],
    ),
    "uses-slot-twice": (
        'resource "http_client" "api" {\n  arguments { base_url = "http://127.0.0.1" }\n}\nstep "http_request" "a" {\n  uses {\n    client = resource.http_client.api\n    client = resource.http_client.api\n  }\n  arguments { url = "/x" }\n}\n',
        [
            'main.hcl:7:5: error: uses slot "client" is set twice in step "http_request.a" [duplicate-attribute]\n  hint: keep one'
        ],
    ),
    "syntax-single-quotes": (
        "locals {\n  a = 'x'\n}\n",
        [
            'main.hcl:2:7: error: syntax error: strings use double quotes [syntax]\n  hint: write "x"',
        ],
    ),
    "syntax-unclosed-heredoc": (
        "locals {\n  a = <<EOT\nabc\n}\n",
        [
            "main.hcl:2:7: error: syntax error: this heredoc is not closed [syntax]\n  hint: end it with a line holding only EOT",
        ],
    ),
    "syntax-unclosed-interpolation": (
        'locals {\n  a = "x ${y"\n}\n',
        [
            'main.hcl:2:13: error: syntax error: an interpolation is not closed [syntax]\n  hint: add the "}" that ends ${...}',
        ],
    ),
    "syntax-semicolon": (
        "locals {\n  a = 1;\n}\n",
        [
            'main.hcl:2:8: error: syntax error: unexpected ";" [syntax]\n  hint: expected a new line after the value (one attribute per line) or an operator',
        ],
    ),
    "syntax-colon-for-equals": (
        "locals {\n  a: 1\n}\n",
        [
            'main.hcl:2:4: error: syntax error: unexpected ":" [syntax]\n  hint: write name = value for an attribute, or name "label" { ... } for a block',
        ],
    ),
    "syntax-unquoted-label": (
        'step "print" 5 {\n}\n',
        [
            'main.hcl:1:14: error: syntax error: unexpected "5" [syntax]\n  hint: expected a quoted label or "{"',
        ],
    ),
    "syntax-two-values": (
        'locals {\n  a = "x" "y"\n}\n',
        [
            'main.hcl:2:11: error: syntax error: unexpected quote (") [syntax]\n  hint: expected "}", a name, a new line or the end of the file',
        ],
    ),
}


def load_errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    with pytest.raises(LoadError) as info:
        load_grid(sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.hcl")))
    return [str(d) for d in info.value.diagnostics]


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_malformed_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_errors(tmp_path, {"main.hcl": text}) == expected


def test_errors_in_several_files_come_back_together_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    errors = load_errors(
        tmp_path,
        {
            "b.hcl": 'step "print" "b" {\n  arguments { inptu = 1 }\n}\n',
            "a.hcl": 'step "prnt" "a" {\n  arguments { input = 1 }\n}\n'
            'step "print" "c" {\n  arguments { input = var.nope }\n}\n',
        },
    )
    assert [e.split(": error")[0] for e in errors] == ["a.hcl:1:1", "a.hcl:5:23", "b.hcl:2:15"]


def test_no_hcl_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        load_grid([tmp_path])
    assert [str(d) for d in info.value.diagnostics] == [
        f"{tmp_path}:1:1: error: no .hcl files found in this folder [no-files]\n"
        "  hint: point gridflow at a grid file or a folder that holds .hcl files"
    ]


def test_file_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "main.hcl").write_bytes(b'locals {\n  a = "\xff"\n}\n')
    with pytest.raises(LoadError) as info:
        load_grid(["main.hcl"])
    assert [str(d) for d in info.value.diagnostics] == [
        "main.hcl:2:8: error: the file is not UTF-8 text [not-utf8]\n"
        "  hint: save it as UTF-8 (grids are text files)"
    ]
