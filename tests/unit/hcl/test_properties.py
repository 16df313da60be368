"""Property tests: whatever bytes a grid file holds, loading it either gives a
Plan or gridflow's own errors: never a traceback from lark, pydantic or us."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gridflow.errors import LoadError
from gridflow.plan import Plan
from gridflow.translators.hcl import GridLoad, load_grid
from tests.support.fuzz import SETTINGS, mutated

SEEDS = [
    """variable "base_url" {
  type    = string
  default = "http://127.0.0.1:1"
}
locals { names = ["a", "b"] }
resource "http_client" "api" {
  arguments { base_url = var.base_url }
}
step "http_request" "get" {
  for_each = toset(local.names)
  uses { client = resource.http_client.api }
  retry {
    attempts = 2
    delay    = "10ms"
  }
  arguments { url = "/items/${each.key}" }
}
step "print" "each" {
  arguments { input = "${each.key}: ${http_request.get[each].output.status_code}" }
}
step "print" "sum" {
  depends_on = ["print.each"]
  arguments { input = length(http_request.get.output) }
}
""",
    """step "print" "a" {
  count = 3
  if    = count.index > 0
  arguments {
    input = <<-EOT
      %{ for i in range(count.index) }${i}%{ endfor }
    EOT
  }
}
step "print" "b" {
  arguments { input = print.a.first_output }
}
step "print" "c" {
  arguments { input = [for x in print.a[*].output : upper(x) if x != null] }
}
""",
]

SEEDS.append(
    """variable "n" {
  type    = number
  default = 3
  validation {
    condition     = var.n < 100
    error_message = "too many"
  }
}
step "http_request" "httpbin" {
  count = var.n
  concurrency {
    limit = 3
  }
  retry {
    attempts = 2
    delay    = "2s"
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
  depends_on = ["http_request.httpbin[0]"]
  arguments {
    input = "${count(http_request.httpbin.output)}: ${http_request.httpbin.first_output}"
  }
}
"""
)

TOKENS = [
    "{", "}", "[", "]", "(", ")", '"', "=", ",", ".", "${", "%{", "[each]", "[*]",
    "count", "for_each", "each.key", "step", "print", "var.x", "local.y", "2s", "-1",
    "\n", "#", "//", "...", "?", ":", "=>", "for", "in", "if", "null", "1e999", "\\",
]  # fmt: skip


def _outcome(path: Path) -> GridLoad | LoadError:
    try:
        return load_grid([path], environ={})
    except LoadError as exc:
        return exc


def _load(text: str) -> None:
    """A Plan (that survives its JSON round trip) or a LoadError: nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "main.hcl"
        path.write_text(text, encoding="utf-8")
        outcome = _outcome(path)
        if isinstance(outcome, LoadError):
            assert outcome.diagnostics, "a LoadError must carry at least one diagnostic"
            assert all(d.line >= 1 and d.col >= 1 for d in outcome.diagnostics)
            return
        assert Plan.from_json(outcome.plan.to_json()) == outcome.plan


@SETTINGS
@given(mutated(SEEDS, TOKENS, longest_cut=6))
def test_mutated_grids_raise_only_gridflow_errors(text: str) -> None:
    _load(text)


@SETTINGS
@given(
    st.lists(st.sampled_from([*TOKENS, "a", " ", "x = ", 'step "print" "a" ']), max_size=40).map(
        "".join
    )
)
def test_token_soup_raises_only_gridflow_errors(text: str) -> None:
    _load(text)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_gridflow_errors(text: str) -> None:
    _load(text)
