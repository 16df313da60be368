"""Plans built from valid grids: structure, references, patterns, variables."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gridflow.errors import LoadError, UsageError
from gridflow.expr import ast
from gridflow.plan import Plan, RefPattern
from gridflow.translators.hcl import GridLoad, load_grid


def load(tmp_path: Path, files: dict[str, str] | str, **kwargs: Any) -> GridLoad:
    if isinstance(files, str):
        files = {"main.hcl": files}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return load_grid([tmp_path], **kwargs)


PATTERNS = """
step "print" "fan" {
  count = 3
  arguments { input = count.index }
}
step "print" "all" {
  arguments { input = length(step.print.fan.output) }
}
step "print" "one" {
  arguments { input = print.fan[2].output }
}
step "print" "first" {
  arguments { input = print.fan.first_output }
}
step "print" "each" {
  arguments { input = print.fan[each].output }
}
step "print" "chained" {
  arguments { input = print.each[each].output }
}
step "print" "splat" {
  arguments { input = print.fan[*].output }
}
"""


def test_the_four_reference_patterns(tmp_path: Path) -> None:
    plan = load(tmp_path, PATTERNS).plan
    patterns = {sid: [(e.upstream, e.pattern) for e in s.edges] for sid, s in plan.steps.items()}
    assert patterns["print.all"] == [("print.fan", RefPattern.ALL)]
    assert patterns["print.one"] == [("print.fan", RefPattern.INSTANCE)]
    assert patterns["print.first"] == [("print.fan", RefPattern.FIRST)]
    assert patterns["print.each"] == [("print.fan", RefPattern.EACH)]
    assert patterns["print.splat"] == [("print.fan", RefPattern.ALL)]
    one = plan.steps["print.one"].edges[0]
    assert one.index is not None
    assert one.index.node == ast.Lit(2, 10, 33)


def test_each_chains_follow_their_parent(tmp_path: Path) -> None:
    plan = load(tmp_path, PATTERNS).plan
    assert plan.steps["print.each"].each_of == "print.fan"
    assert plan.steps["print.chained"].each_of == "print.each"
    assert plan.steps["print.all"].each_of is None


def test_both_reference_forms_make_the_same_step_ref(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "a" {
          arguments { input = "x" }
        }
        step "print" "b" {
          arguments {
            input = [step.print.a.output, print.a.output]
          }
        }
        """,
    ).plan
    tree = plan.steps["print.b"].arguments["input"].node
    assert isinstance(tree, ast.TupleExpr)
    refs = [item.obj for item in tree.items if isinstance(item, ast.GetAttr)]
    assert [r.step for r in refs if isinstance(r, ast.StepRef)] == ["print.a", "print.a"]
    assert len(plan.steps["print.b"].edges) == 1


def test_topological_order_is_stable_by_source_position(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        {
            "b.hcl": 'step "print" "z" {\n  arguments { input = print.y.output }\n}\n',
            "a.hcl": 'step "print" "y" {\n  arguments { input = 1 }\n}\n'
            'step "print" "x" {\n  arguments { input = 2 }\n}\n',
        },
    ).plan
    assert list(plan.steps) == ["print.y", "print.x", "print.z"]
    assert plan.sources == [str(tmp_path / "a.hcl"), str(tmp_path / "b.hcl")]


def test_meta_arguments_are_evaluated_at_load(tmp_path: Path) -> None:
    step = load(
        tmp_path,
        """
            variable "tries" { default = 4 }
            locals { pause = "250ms" }
            step "print" "a" {
              retry {
                attempts  = var.tries
                delay     = local.pause
                backoff   = "exponential"
                max_delay = 2
              }
              timeout           = "1m30s"
              delay_before      = 0.5
              delay_after       = "10ms"
              concurrency { limit = 2 }
              continue_on_error = true
              abort_if_false    = true
              sensitive         = true
              if                = var.tries > 1
              arguments { input = "x" }
            }
            """,
    ).plan.steps["print.a"]
    assert (step.retry.attempts, step.retry.delay_s, step.retry.backoff) == (4, 0.25, "exponential")
    assert step.retry.max_delay_s == 2.0
    assert (step.timeout_s, step.delay_before_s, step.delay_after_s) == (90.0, 0.5, 0.01)
    assert step.concurrency_limit == 2
    assert step.continue_on_error
    assert step.abort_if_false
    assert step.sensitive
    assert step.if_ is not None
    assert step.if_.text == "var.tries > 1"


def test_dynamic_fan_out_is_marked(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "list" {
          arguments { input = ["a", "b"] }
        }
        step "print" "each_item" {
          for_each = toset(print.list.output)
          arguments { input = each.value }
        }
        """,
    ).plan
    fan = plan.steps["print.each_item"].fan_out
    assert fan is not None
    assert (fan.kind, fan.dynamic) == ("for_each", True)
    assert plan.steps["print.each_item"].edges[0].pattern is RefPattern.ALL


def test_depends_on_strings_and_references(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "a" {
          count = 2
          arguments { input = 1 }
        }
        step "print" "b" {
          arguments { input = 2 }
        }
        step "print" "c" {
          depends_on = ["step.print.a", "print.a[1]", print.b]
          arguments { input = 3 }
        }
        """,
    ).plan
    edges = [(e.upstream, e.pattern, e.explicit) for e in plan.steps["print.c"].edges]
    assert edges == [
        ("print.a", RefPattern.ALL, True),
        ("print.a", RefPattern.INSTANCE, True),
        ("print.b", RefPattern.ALL, True),
    ]


def test_resources_and_uses(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        resource "http_client" "api" {
          arguments { base_url = "http://127.0.0.1:1" }
        }
        step "http_request" "get" {
          uses { client = resource.http_client.api }
          arguments { url = "/x" }
        }
        """,
    ).plan
    assert plan.resources["http_client.api"].type == "http_client"
    assert plan.steps["http_request.get"].uses == {"client": "http_client.api"}


def test_variable_types_defaults_and_sensitive(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """
        variable "ports" {
          type    = list(number)
          default = ["80", 443]
        }
        variable "owner" {
          type = object({ name = string, team = optional(string) })
          default = { name = "ops" }
        }
        variable "token" {
          type      = string
          sensitive = true
        }
        """,
    )
    assert loaded.values == {"ports": [80, 443], "owner": {"name": "ops", "team": None}}
    assert loaded.missing == ["token"]
    assert loaded.plan.variables["token"].sensitive
    assert str(loaded.plan.variables["owner"].type) == "object({name = string, team = string})"


VARS = """
variable "n" {
  type    = number
  default = 1
}
variable "who" {
  type    = string
  default = "default"
}
"""


@pytest.mark.parametrize(
    ("kwargs", "files", "expected"),
    [
        ({}, {}, {"n": 1, "who": "default"}),
        ({"environ": {"GRIDFLOW_VAR_n": "2"}}, {}, {"n": 2, "who": "default"}),
        (
            {"environ": {"GRIDFLOW_VAR_n": "2"}, "profile": "ci"},
            {"profiles/ci.hcl": "n = 3\n"},
            {"n": 3, "who": "default"},
        ),
        (
            {"profile": "ci", "var_files": ["VF/vars.yaml"]},
            {"profiles/ci.json": '{"n": 3}', "../vf/vars.yaml": "n: 4\nwho: yaml\n"},
            {"n": 4, "who": "yaml"},
        ),
        (
            {"var_files": ["VF/vars.json"], "var_args": ["n=5"]},
            {"../vf/vars.json": '{"n": 4, "who": "json"}'},
            {"n": 5, "who": "json"},
        ),
        ({"var_args": ["who=a=b"]}, {}, {"n": 1, "who": "a=b"}),
    ],
    ids=[
        "defaults",
        "env",
        "profile-over-env",
        "var-file-over-profile",
        "var-over-file",
        "equals-in-value",
    ],
)
def test_variable_sources_and_precedence(
    tmp_path: Path, kwargs: dict[str, Any], files: dict[str, str], expected: dict[str, Any]
) -> None:
    grid = tmp_path / "grid"
    kwargs = dict(kwargs)
    kwargs["var_files"] = [
        str(f).replace("VF", str(tmp_path / "vf")) for f in kwargs.get("var_files", [])
    ]
    kwargs.setdefault("environ", {})
    assert load(grid, {"main.hcl": VARS, **files}, **kwargs).values == expected


@pytest.mark.parametrize(
    ("kwargs", "parts"),
    [
        (
            {"var_args": ["nope"]},
            ['invalid -var "nope": expected name=value'],
        ),
        ({"var_args": ["whom=1"]}, ["-var", '"whom"', 'did you mean "who"?']),
        ({"var_args": ["n=abc"]}, ["-var n", 'expected number, got string "abc"']),
        ({"profile": "prod"}, ['no profile "prod"', "profiles/prod.hcl"]),
    ],
    ids=["no-equals", "unknown-name", "bad-type", "missing-profile"],
)
def test_variable_source_errors(tmp_path: Path, kwargs: dict[str, Any], parts: list[str]) -> None:
    # The exact wording belongs to varsources' own tests; here: the error comes
    # through load_grid as a UsageError that names the source and the problem.
    with pytest.raises(UsageError) as info:
        load(tmp_path, VARS, environ={}, **kwargs)
    assert [p for p in parts if p not in str(info.value)] == []


def test_plan_json_round_trip(tmp_path: Path) -> None:
    plan = load(tmp_path, PATTERNS).plan
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert json.loads(again.to_json()) == json.loads(plan.to_json())
    assert (
        again.steps["print.one"].arguments["input"].node
        == plan.steps["print.one"].arguments["input"].node
    )


def test_burstgridgo_style_grid_loads(tmp_path: Path) -> None:
    """A grid in burstgridgo's style (short references, splats, depends_on) loads unchanged."""
    plan = load(
        tmp_path,
        """
        step "env_vars" "config" {
          arguments {
            include  = ["API_URL"]
            defaults = { API_URL = "http://127.0.0.1:8080" }
          }
        }
        step "http_request" "get_pages" {
          count = 3
          arguments {
            url    = "${env_vars.config.output.vars.API_URL}/items/${count.index + 1}"
            method = "GET"
          }
        }
        step "print" "summary" {
          depends_on = ["http_request.get_pages"]
          arguments {
            input = [for r in http_request.get_pages[*].output : r.status_code]
          }
        }
        """,
    ).plan
    assert list(plan.steps) == ["env_vars.config", "http_request.get_pages", "print.summary"]


# burstgridgo's README example, verbatim: its bare `delay = 2s` is the one thing
# that must not load (durations are strings); quoted, the grid loads unchanged.
BURSTGRIDGO_README = """\
# File: examples/http_concurrent_requests.hcl

step "http_request" "httpbin" {
  count = 10

  concurrency {
    limit = 3
  }

  retry {
    attempts = 2
    delay    = 2s
  }

  arguments {
    url = "https://httpbin.org/get?$request={count.index}"
  }
}

step "print" "wait_each" {
  arguments {
    input = "Request=${count.index} code=${http_request.httpbin[each].output.status_code}"
  }
}

step "print" "wait_all" {
  arguments {
    input = "We made ${count(http_request.httpbin.output)} requests!"
  }
}
"""


def test_burstgridgo_readme_grid_reports_its_bare_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("grid.hcl").write_text(BURSTGRIDGO_README)
    with pytest.raises(LoadError) as info:
        load_grid(["grid.hcl"], environ={})
    assert [str(d) for d in info.value.diagnostics] == [
        'grid.hcl:12:16: error: durations are strings: write "2s" [bare-duration]\n'
        '  hint: put the duration in quotes, e.g. delay    = "2s"'
    ]


def test_burstgridgo_readme_grid_loads_with_the_duration_quoted(tmp_path: Path) -> None:
    plan = load(tmp_path, BURSTGRIDGO_README.replace("= 2s", '= "2s"')).plan
    fan = plan.steps["http_request.httpbin"]
    assert fan.fan_out is not None
    assert (fan.fan_out.kind, fan.concurrency_limit) == ("count", 3)
    assert (fan.retry.attempts, fan.retry.delay_s) == (2, 2.0)
    assert plan.steps["print.wait_each"].each_of == "http_request.httpbin"
    wait_all = plan.steps["print.wait_all"]
    assert [(e.upstream, e.pattern) for e in wait_all.edges] == [
        ("http_request.httpbin", RefPattern.ALL)
    ]
    # burstgridgo's count() is length(): the call is stored under the name that runs.
    calls = [n for n in ast.walk(wait_all.arguments["input"].node) if isinstance(n, ast.Call)]
    assert [c.name for c in calls] == ["length"]


VALIDATED = """\
variable "port" {
  type    = number
  default = 0
  validation {
    condition     = var.port > 0
    error_message = "port must be positive"
  }
}
"""
INVALID_PORT = (
    'main.hcl:5:5: error: invalid value for variable "port": port must be positive '
    "[variable-validation]\n  hint: give var.port a value for which var.port > 0 is true"
)


@pytest.mark.parametrize("var_args", [[], ["port=-1"]], ids=["default-fails", "override-fails"])
def test_variable_validation_rejects_the_loaded_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var_args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("main.hcl").write_text(VALIDATED)
    with pytest.raises(LoadError) as info:
        load_grid(["main.hcl"], var_args=var_args, environ={})
    assert [str(d) for d in info.value.diagnostics] == [INVALID_PORT]


def test_variable_validation_accepts_a_good_override(tmp_path: Path) -> None:
    assert load(tmp_path, VALIDATED, var_args=["port=80"], environ={}).values == {"port": 80}


def test_for_variables_shadow_steps_and_each(tmp_path: Path) -> None:
    """A loop variable named like a runner or ``each`` is the loop variable, as in HCL."""
    plan = load(
        tmp_path,
        """
        step "print" "a" {
          count = 2
          arguments { input = "x" }
        }
        step "print" "shadow" {
          arguments { input = [for print in [{a = 1}] : print.a] }
        }
        step "print" "collection" {
          arguments { input = [for print in print.a.output : print] }
        }
        step "print" "loop_key" {
          arguments { input = [for each in [0, 1] : print.a[each].output] }
        }
        step "print" "own_instance" {
          count = 2
          arguments { input = print.a[count.index].output }
        }
        """,
    ).plan
    edges = {sid: [(e.upstream, e.pattern) for e in s.edges] for sid, s in plan.steps.items()}
    assert edges["print.shadow"] == []
    assert edges["print.collection"] == [("print.a", RefPattern.ALL)]
    # A key that changes per loop turn is not one instance: wait for all of them.
    assert edges["print.loop_key"] == [("print.a", RefPattern.ALL)]
    assert edges["print.own_instance"] == [("print.a", RefPattern.INSTANCE)]
    assert plan.steps["print.loop_key"].each_of is None
    shadow = plan.steps["print.shadow"].arguments["input"].node
    assert not [n for n in ast.walk(shadow) if isinstance(n, ast.StepRef)]


REQUIRED_IN_META = """
variable "t" { type = string }
locals { pause = var.t }
step "print" "a" {
  timeout = var.t
  retry {
    attempts = 2
    delay    = local.pause
  }
  arguments { input = var.t }
}
"""


def test_required_variable_in_meta_arguments_waits_for_its_value(tmp_path: Path) -> None:
    """validate accepts a grid whose required variables have no value yet; with
    the value given, the load-time meta-arguments are computed from it."""
    without = load(tmp_path, REQUIRED_IN_META, environ={})
    assert without.missing == ["t"]
    assert without.plan.steps["print.a"].timeout_s is None
    given = load(tmp_path, REQUIRED_IN_META, environ={}, var_args=["t=1m"])
    assert given.missing == []
    step = given.plan.steps["print.a"]
    assert (step.timeout_s, step.retry.delay_s) == (60.0, 60.0)


def test_long_each_chain_written_backwards(tmp_path: Path) -> None:
    """Chains are resolved in one pass over the topological order: a chain longer
    than Python's recursion limit, declared last-step-first, still loads."""
    n = 1200
    blocks = ['step "print" "s0" {\n  count = 3\n  arguments { input = count.index }\n}\n']
    blocks += [
        f'step "print" "s{i}" {{\n  arguments {{ input = print.s{i - 1}[each].output }}\n}}\n'
        for i in range(1, n)
    ]
    plan = load(tmp_path, "".join(reversed(blocks)), environ={}).plan
    assert list(plan.steps)[:3] == ["print.s0", "print.s1", "print.s2"]
    assert plan.steps[f"print.s{n - 1}"].each_of == f"print.s{n - 2}"
    assert plan.steps["print.s0"].each_of is None
