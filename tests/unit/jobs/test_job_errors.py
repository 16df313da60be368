# ruff: noqa: E501 - rows of job text and exact messages read best unwrapped
"""Every malformed job gets exact, actionable messages: file:line:col, what, how to fix.

Each row is a job file (job.yaml) and the complete list of diagnostics
expected, as ``gridflow validate`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflow.errors import LoadError
from gridflow.jobs import read_job

CASES: dict[str, tuple[str, list[str]]] = {
    "syntax-indent": (
        "target: all\ntasks:\n  - backend: ping\n   action: echo\n",
        [
            "job.yaml:4:4: error: YAML syntax error: this line does not fit the block above it (it starts at line 3) [syntax]\n  hint: indent it like the other entries of that block, and put ':' after each key",
        ],
    ),
    "syntax-tab": (
        "target: all\ntasks:\n\t- backend: ping\n",
        [
            "job.yaml:3:1: error: YAML syntax error: a tab cannot indent YAML [syntax]\n  hint: indent with spaces",
        ],
    ),
    "syntax-colon": (
        "target: all\nname: a: b\ntasks: []\n",
        [
            'job.yaml:2:8: error: YAML syntax error: a ":" is not allowed here [syntax]\n  hint: check this line\'s indentation, or quote a value that contains ": " (message: "a: b")',
        ],
    ),
    "syntax-unclosed-flow": (
        "target: all\ntasks:\n  - { backend: ping, action: echo\n",
        [
            'job.yaml:4:1: error: YAML syntax error: a { mapping is not closed (it starts at line 3) [syntax]\n  hint: close it with "}" and separate entries with ","',
        ],
    ),
    "syntax-unclosed-list": (
        "target: all\ntasks: [\n",
        [
            'job.yaml:3:1: error: YAML syntax error: the file ends in the middle of a value [syntax]\n  hint: close every "[" and "{", and finish the last entry',
        ],
    ),
    "syntax-quote": (
        "target: all\ntasks:\n  - backend: 'ping\n",
        [
            "job.yaml:4:1: error: YAML syntax error: a quoted string is not closed (it starts at line 3) [syntax]\n  hint: add the closing quote",
        ],
    ),
    "two-docs": (
        "target: all\n---\ntasks: []\n",
        [
            'job.yaml:2:1: error: YAML syntax error: the file holds more than one document [syntax]\n  hint: a file holds one YAML document: remove the "---" separator and what follows',
        ],
    ),
    "undefined-alias": (
        "target: *x\n",
        [
            "job.yaml:1:9: error: YAML syntax error: unknown alias 'x' [syntax]\n  hint: define the anchor (&name) before using the alias (*name)",
        ],
    ),
    "empty": (
        "",
        [
            "job.yaml:1:1: error: the file is empty [empty-file]\n  hint: write a YAML mapping",
        ],
    ),
    "not-mapping": (
        "- a\n- b\n",
        [
            "job.yaml:1:1: error: a job file must be a mapping, got a list [wrong-type]\n  hint: a job is a mapping with target, tasks and optional name, strategy, timeout, checks",
        ],
    ),
    "unknown-top": (
        "target: all\nstratgy: continue\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:2:1: error: unknown key "stratgy" in the job [unknown-key]\n  hint: did you mean "strategy"?',
        ],
    ),
    "unknown-backend": (
        "target: all\ntasks:\n  - { backend: aptt, action: update }\n",
        [
            'job.yaml:3:16: error: unknown backend "aptt" [unknown-backend]\n  hint: did you mean "apt"?',
        ],
    ),
    "unknown-action": (
        "target: all\ntasks:\n  - { backend: apt, action: instal, params: { package: nginx } }\n",
        [
            'job.yaml:3:29: error: unknown action "instal" for backend "apt" [unknown-action]\n  hint: did you mean "install"?',
        ],
    ),
    "missing-param": (
        "target: all\ntasks:\n  - backend: apt\n    action: install\n",
        [
            'job.yaml:3:5: error: action "apt.install" needs the parameter "package" [missing-param]\n  hint: add it under params, e.g. params: { package: ... }',
        ],
    ),
    "missing-param2": (
        "target: all\ntasks:\n  - backend: apt\n    action: install\n    params: {}\n",
        [
            'job.yaml:5:5: error: action "apt.install" needs the parameter "package" [missing-param]\n  hint: add it under params, e.g. params: { package: ... }',
        ],
    ),
    "unknown-param": (
        "target: all\ntasks:\n  - backend: apt\n    action: install\n    params:\n      pakage: nginx\n",
        [
            'job.yaml:6:7: error: unknown parameter "pakage" for action "apt.install" [unknown-param]\n  hint: did you mean "package"?',
        ],
    ),
    "param-beside": (
        "target: all\ntasks:\n  - backend: apt\n    action: install\n    package: nginx\n",
        [
            'job.yaml:5:5: error: unknown key "package" in a task [unknown-key]\n  hint: parameters go under params: params: { package: ... }',
        ],
    ),
    "bad-package": (
        "target: all\ntasks:\n  - backend: apt\n    action: install\n    params: { package: 'nginx; rm -rf /' }\n",
        [
            'job.yaml:5:24: error: parameter "package" of action "apt.install": "nginx; rm -rf /" is not a valid package [bad-param]\n  hint: a package matches ^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$',
        ],
    ),
    "bool-param": (
        "target: all\ntasks:\n  - backend: systemd\n    action: start\n    params: { unit: no }\n",
        [
            'job.yaml:5:21: error: parameter "unit" of action "systemd.start": input should be a valid string, got the boolean false [bad-param]\n  hint: YAML reads yes/no/on/off/true/false as booleans: put the value in quotes',
        ],
    ),
    "bad-duration-param": (
        "target: all\ntasks:\n  - { backend: ping, action: sleep, params: { duration: soon } }\n",
        [
            'job.yaml:3:57: error: parameter "duration" of action "ping.sleep": invalid duration "soon": use seconds as a number or a string such as "500ms", "2s" or "1m30s" [bad-param]\n  hint: change the value of duration',
        ],
    ),
    "cmd-both": (
        "target: all\ntasks:\n  - { backend: cmd, action: run, params: { argv: [ls], shell: ls } }\n",
        [
            'job.yaml:3:34: error: action "cmd.run": set exactly one of argv (a list, run without a shell) and shell (a string for /bin/sh -c) [bad-params]',
        ],
    ),
    "cmd-argv-item": (
        "target: all\ntasks:\n  - { backend: cmd, action: run, params: { argv: [ls, [x]] } }\n",
        [
            'job.yaml:3:55: error: parameter "argv[1]" of action "cmd.run": input should be a valid string, got a list [bad-param]\n  hint: change the value of argv[1]',
        ],
    ),
    "bad-condition": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, condition: on_fail }\n",
        [
            'job.yaml:3:51: error: condition "on_fail" is not one of "always", "on_success" or "on_failure" [bad-value]\n  hint: did you mean "on_failure"?',
        ],
    ),
    "bad-strategy": (
        "target: all\nstrategy: fail_fast\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:2:11: error: strategy "fail_fast" is not one of "fail-fast" or "continue" [bad-value]\n  hint: did you mean "fail-fast"?',
        ],
    ),
    "bad-timeout": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, timeout: 5 minutes }\n",
        [
            'job.yaml:3:49: error: timeout: invalid duration "5 minutes": use seconds as a number or a string such as "500ms", "2s" or "1m30s" [bad-duration]',
        ],
    ),
    "zero-timeout": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, timeout: 0 }\n",
        [
            'job.yaml:3:49: error: timeout must be longer than 0 [bad-duration]\n  hint: write a positive duration such as "30s", or leave it out for the default',
        ],
    ),
    "long-timeout": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, timeout: 300h }\n",
        [
            "job.yaml:3:49: error: timeout is 300h, longer than the 24h allowed [bad-duration]\n  hint: write at most 24h",
        ],
    ),
    "retries": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, max_retries: 100 }\n",
        [
            "job.yaml:3:53: error: max_retries must be from 0 to 25, got 100 [out-of-range]\n  hint: write a number from 0 to 25",
        ],
    ),
    "retries-type": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, max_retries: three }\n",
        [
            'job.yaml:3:53: error: max_retries must be a whole number, got the string "three" [wrong-type]\n  hint: write a number from 0 to 25',
        ],
    ),
    "nested": (
        "target: all\ntasks:\n  - tasks:\n      - tasks:\n          - { backend: ping, action: hostname }\n",
        [
            "job.yaml:4:9: error: a pipeline cannot contain another pipeline [nested-pipeline]\n  hint: list these tasks directly in the outer pipeline, or make them a phase of their own",
        ],
    ),
    "empty-tasks": (
        "target: all\ntasks: []\n",
        [
            "job.yaml:2:8: error: the job's task list is empty [empty-tasks]\n  hint: add at least one task: - { backend: ping, action: echo, params: { message: hi } }",
        ],
    ),
    "empty-pipeline": (
        "target: all\ntasks:\n  - tasks: []\n",
        [
            "job.yaml:3:12: error: this pipeline has no tasks [empty-tasks]\n  hint: add at least one task: - { backend: ping, action: echo, params: { message: hi } }",
        ],
    ),
    "check-not-ro": (
        "target: all\nchecks:\n  pre:\n    - { backend: apt, action: install, params: { package: nginx } }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:4:23: error: action "apt.install" changes the node and cannot be a check [check-not-read-only]\n  hint: checks must not change the node: make it a task',
        ],
    ),
    "concurrency": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, concurrency: 0 }\n  - { backend: ping, action: hostname, concurrency: '150%' }\n  - { backend: ping, action: hostname, concurrency: lots }\n",
        [
            "job.yaml:3:53: error: concurrency must be at least 1 node [out-of-range]\n  hint: leave concurrency out to run every node at once",
            'job.yaml:4:53: error: concurrency must be above 0% and at most 100%, got 150% [out-of-range]\n  hint: write e.g. "25%"; a share rounds down, to at least one node',
            'job.yaml:5:53: error: concurrency must be a count or a percentage, got the string "lots" [bad-amount]\n  hint: write a number of nodes (2) or a share ("25%")',
        ],
    ),
    "tolerate": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname, tolerate_failures: '101%' }\n  - { backend: ping, action: hostname, tolerate_failures: -1 }\n  - { backend: ping, action: hostname, tolerate_failures: 1.5 }\n",
        [
            'job.yaml:3:59: error: tolerate_failures cannot be more than 100%, got 101% [out-of-range]\n  hint: write a share from "0%" to "100%"',
            'job.yaml:4:59: error: tolerate_failures cannot be negative, got -1 [out-of-range]\n  hint: write a number of nodes (1) or a share of the nodes ("34%")',
            'job.yaml:5:59: error: tolerate_failures must be a count or a percentage, got the number 1.5 [bad-amount]\n  hint: write a number of nodes (1) or a share of the nodes ("34%")',
        ],
    ),
    "target-bad": (
        "target: { scope: grp, value: web }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:1:18: error: target scope "grp" is not one of "all", "group" or "node" [bad-value]\n  hint: did you mean "group"?',
        ],
    ),
    "target-novalue": (
        "target: { scope: group }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:9: error: scope group needs a value: the group to run on [bad-target]\n  hint: add value: GROUP",
        ],
    ),
    "target-str": (
        "target: groups:web\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:1:9: error: "groups:web" is not a target: write "all", "group:NAME" or "node:ID" (did you mean "group"?) [bad-target]',
        ],
    ),
    "no-target": (
        "tasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:1:1: error: the job has no target [missing-target]\n  hint: add target: { scope: group, value: web } (or target: "all"), or give one on the command line with -t',
        ],
    ),
    "dup-key": (
        "target: all\ntarget: all\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:2:1: error: key "target" is written twice in this mapping (first at line 1) [duplicate-key]\n  hint: remove one of them: YAML would silently keep only the last',
        ],
    ),
    "both": (
        "target: all\ntasks:\n  - backend: ping\n    tasks:\n      - { backend: ping, action: hostname }\n",
        [
            'job.yaml:3:5: error: unknown key "backend" in a pipeline [unknown-key]\n  hint: an item is a task (backend, action, params) or a pipeline (tasks: [...]), not both: move this into one of the pipeline\'s tasks',
        ],
    ),
    "pipeline-timeout": (
        "target: all\ntasks:\n  - timeout: 5s\n    tasks:\n      - { backend: ping, action: hostname }\n",
        [
            'job.yaml:3:5: error: unknown key "timeout" in a pipeline [unknown-key]\n  hint: set it on each task of the pipeline: a pipeline\'s tasks have their own',
        ],
    ),
    "subtask-concurrency": (
        "target: all\ntasks:\n  - tasks:\n      - { backend: ping, action: hostname, concurrency: 1 }\n",
        [
            'job.yaml:4:44: error: unknown key "concurrency" in a pipeline task [unknown-key]\n  hint: set it on the pipeline (the phase), not on one of its tasks',
        ],
    ),
    "http-check": (
        "target: all\nchecks:\n  post:\n    - http: { url: 'ftp://x', expect_status: 999, method: POST }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:4:20: error: "ftp://x" is not an http:// or https:// URL [bad-url]\n  hint: write the whole address, e.g. http://127.0.0.1:8080/healthz',
            "job.yaml:4:46: error: expect_status: 999 is not an HTTP status code: codes run from 100 to 599 [bad-status]",
            'job.yaml:4:59: error: method "POST" is not one of "GET" or "HEAD" [bad-value]\n  hint: write one of: GET, HEAD',
        ],
    ),
    "during": (
        "target: all\ntasks:\n  - backend: ping\n    action: hostname\n    checks:\n      during: { interval: 10ms, checks: [ { http: {} } ] }\n",
        [
            "job.yaml:6:27: error: checks.during.interval must be at least 100ms [bad-duration]\n  hint: checks that run more often would load the nodes they check",
            "job.yaml:6:51: error: an HTTP check needs a url [missing-url]\n  hint: add url: http://...",
        ],
    ),
    "list-item": (
        "target: all\ntasks:\n  - - { backend: ping, action: hostname }\n",
        [
            "job.yaml:3:5: error: a list inside tasks is not a phase [bad-phase]\n  hint: write a pipeline as a mapping: - tasks: [ ... ]",
        ],
    ),
    "str-item": (
        "target: all\ntasks:\n  - apt update\n",
        [
            'job.yaml:3:5: error: each item of tasks must be a mapping, got the string "apt update" [wrong-type]\n  hint: each item is a task (backend, action, params) or a pipeline (tasks: [ ... ])',
        ],
    ),
    "bool-key": (
        "target: all\ntasks:\n  - { backend: ping, action: hostname }\nyes: 1\n",
        [
            'job.yaml:4:1: error: a mapping key must be a name, not the boolean true [bad-key]\n  hint: YAML reads "yes" as a boolean: quote it ("yes") to use it',
        ],
    ),
    "tag": (
        "target: !!binary aGk=\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:9: error: YAML tag !!binary is not supported here [unknown-tag]\n  hint: remove the tag: jobs and inventories use plain YAML values",
        ],
    ),
    "recursive": (
        "target: &a [*a]\n",
        [
            "job.yaml:1:9: error: an alias refers to a value that contains it [recursive-alias]\n  hint: YAML anchors used inside themselves make an endless value: remove the alias",
        ],
    ),
    "null-byte": (
        "target: all\x00\n",
        [
            "job.yaml:1:12: error: character U+0000 is not allowed in YAML [syntax]\n  hint: remove it, or write it as an escape inside a double-quoted string",
        ],
    ),
    "name-bad": (
        "name: 'my job'\ntarget: all\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:7: error: job name \"my job\" is not valid [bad-name]\n  hint: start with a letter or digit, then letters, digits, '.', '_' or '-' (128 at most)",
        ],
    ),
    "params-list": (
        "target: all\ntasks:\n  - { backend: ping, action: echo, params: [a] }\n",
        [
            "job.yaml:3:44: error: params must be a mapping, got a list [wrong-type]\n  hint: write params: { name: value, ... }",
        ],
    ),
    "flaky-rate": (
        "target: all\ntasks:\n  - { backend: test, action: flaky, params: { rate: 150 } }\n",
        [
            'job.yaml:3:53: error: parameter "rate" of action "test.flaky": input should be less than or equal to 100 [bad-param]\n  hint: change the value of rate',
        ],
    ),
    "rke2-mode": (
        "target: all\ntasks:\n  - { backend: rke2, action: start, params: { mode: master } }\n",
        [
            "job.yaml:3:53: error: parameter \"mode\" of action \"rke2.start\": input should be 'server' or 'agent' [bad-param]\n  hint: change the value of mode",
        ],
    ),
    "target-all-value": (
        "target: { scope: all, value: web }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:30: error: scope all takes no value [bad-target]\n  hint: remove value, or use scope: group / scope: node",
        ],
    ),
    "target-node-int": (
        "target: { scope: node, value: 7 }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:31: error: target value (node) must be a string, got the number 7 [wrong-type]\n  hint: put the value in quotes to make it a string",
        ],
    ),
    "target-list": (
        "target: [web]\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:1:9: error: target must be a mapping or a string, got a list [bad-target]\n  hint: write target: { scope: group, value: web }, or target: "group:web"',
        ],
    ),
    "check-systemd": (
        "target: all\nchecks:\n  pre:\n    - { backend: systemd, action: restart, params: { unit: nginx } }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:4:27: error: action "systemd.restart" changes the node and cannot be a check [check-not-read-only]\n  hint: checks must not change the node: use systemd.status, or make it a task',
        ],
    ),
    "dup-param": (
        "target: all\ntasks:\n  - backend: systemd\n    action: start\n    params:\n      unit: a\n      unit: b\n",
        [
            'job.yaml:7:7: error: key "unit" is written twice in this mapping (first at line 6) [duplicate-key]\n  hint: remove one of them: YAML would silently keep only the last',
        ],
    ),
    "json-missing-action": (
        '{"target": "all", "tasks": [{"backend": "ping"}]}\n',
        [
            "job.yaml:1:29: error: a task needs an action [missing-action]\n  hint: add action: (for ping: echo, hostname, sleep)",
        ],
    ),
    "missing-backend": (
        "target: all\ntasks:\n  - action: echo\n",
        [
            "job.yaml:3:5: error: a task needs a backend [missing-backend]\n  hint: add backend: (one of apt, cmd, ping, rke2, systemd, test)",
        ],
    ),
    "checks-list": (
        "target: all\nchecks: [ { backend: ping, action: hostname } ]\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:2:9: error: checks must be a mapping, got a list [wrong-type]\n  hint: write checks: { pre: [...], post: [...] }",
        ],
    ),
    "checks-unknown": (
        "target: all\nchecks: { before: [] }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:2:11: error: unknown key "before" in checks [unknown-key]\n  hint: checks takes: pre, post, during',
        ],
    ),
    "sub-condition": (
        "target: all\ntasks:\n  - tasks:\n      - { backend: ping, action: hostname, condition: never }\n",
        [
            'job.yaml:4:55: error: condition "never" is not one of "always", "on_success" or "on_failure" [bad-value]\n  hint: write one of: always, on_success, on_failure',
        ],
    ),
    "description-int": (
        "description: 5\ntarget: all\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            "job.yaml:1:14: error: description must be a string, got the number 5 [wrong-type]\n  hint: put the value in quotes to make it a string",
        ],
    ),
    "status-map": (
        "target: all\nchecks:\n  pre:\n    - http: { url: 'http://127.0.0.1:1/', expect_status: { a: 1 } }\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:4:58: error: expect_status must be a status or a list of them, got a mapping [bad-status]\n  hint: write a code (200), a class ("2xx"), a range ("200-299") or a list of those',
        ],
    ),
    "job-timeout": (
        "target: all\ntimeout: 30d\ntasks:\n  - { backend: ping, action: hostname }\n",
        [
            'job.yaml:2:10: error: job timeout: invalid duration "30d": use seconds as a number or a string such as "500ms", "2s" or "1m30s" [bad-duration]',
        ],
    ),
    "tasks-map": (
        "target: all\ntasks: { backend: ping, action: hostname }\n",
        [
            "job.yaml:2:8: error: tasks must be a list, got a mapping [wrong-type]\n  hint: write each phase as a list item: - { backend: ..., action: ... }",
        ],
    ),
    "many-problems": (
        "target: { scope: group, value: web }\nstrategy: yolo\ntasks:\n  - { backend: apt, action: install, params: { package: Nginx } }\n  - tasks:\n      - { backend: systemd, action: strat, params: { unit: nginx } }\n  - { backend: ping, action: hostname, condition: maybe }\n",
        [
            'job.yaml:2:11: error: strategy "yolo" is not one of "fail-fast" or "continue" [bad-value]\n  hint: write one of: fail-fast, continue',
            'job.yaml:4:57: error: parameter "package" of action "apt.install": "Nginx" is not a valid package [bad-param]\n  hint: a package matches ^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$',
            'job.yaml:6:37: error: unknown action "strat" for backend "systemd" [unknown-action]\n  hint: did you mean "start"?',
            'job.yaml:7:51: error: condition "maybe" is not one of "always", "on_success" or "on_failure" [bad-value]\n  hint: write one of: always, on_success, on_failure',
        ],
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_malformed_job(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert _problems(tmp_path, text.encode()) == expected


def _problems(tmp_path: Path, data: bytes) -> list[str]:
    (tmp_path / "job.yaml").write_bytes(data)
    with pytest.raises(LoadError) as info:
        read_job(tmp_path / "job.yaml")
    return [str(d).replace(str(tmp_path) + "/", "") for d in info.value.diagnostics]


def test_not_utf8(tmp_path: Path) -> None:
    assert _problems(tmp_path, b"target: all\nname: caf\xe9\n") == [
        "job.yaml:2:10: error: the file is not UTF-8 text [not-utf8]\n  hint: save it as UTF-8"
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        read_job(tmp_path / "nope.yaml")
    assert [str(d).replace(str(tmp_path) + "/", "") for d in info.value.diagnostics] == [
        "nope.yaml:1:1: error: cannot read: No such file or directory [unreadable-file]\n"
        "  hint: check the path"
    ]


ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    for prev, name in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + ALIAS_BOMB,
            "job.yaml:1:35: error: the document holds more than 100000 values (aliases count "
            "each time they are used) [too-large]\n  hint: split the file, or use fewer aliases",
        ),
        (
            "target: " + "[" * 200 + "]" * 200 + "\n",
            "job.yaml:1:73: error: the document is nested too deeply [too-deep]\n"
            "  hint: jobs and inventories need far fewer than 64 levels; simplify the file",
        ),
    ],
    ids=["alias-bomb", "too-deep"],
)
def test_hostile_documents_are_bounded(tmp_path: Path, text: str, expected: str) -> None:
    assert _problems(tmp_path, text.encode()) == [expected]
