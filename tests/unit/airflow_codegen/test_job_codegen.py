"""``gridflow compile JOB.yaml --to airflow`` without Airflow: what the generated
DAG file holds, that nothing from a job can become code, that it refuses what
it must, and that ruff finds it clean.

tests/airflow/test_job_codegen.py imports the generated files under Airflow,
checks they build the same DAG as the in-memory builder, and runs one.
"""

from __future__ import annotations

import ast
import io
import random
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from gridflow.cli import app
from gridflow.engines.airflow.job_codegen import render_job_dag_module
from gridflow.engines.airflow.job_shape import job_dag_shape
from gridflow.errors import UsageError
from gridflow.jobs import check_job
from gridflow.jobs.inventory import inventory_beside
from gridflow.jobs.model import JobPlan
from tests.unit.airflow_codegen.test_codegen import NASTY, nasty_text, ruff_problems

ROOT = Path(__file__).resolve().parents[3]
JOBS = ROOT / "dags_examples" / "jobs"
EXAMPLE_FILE = JOBS / "compiled_rolling_nginx_deploy.py"
EXAMPLE_COMMAND = (
    "gridflow compile dags_examples/jobs/rolling_nginx_deploy.yaml --to airflow "
    "-i dags_examples/jobs/inventory.yaml -o dags_examples/jobs/compiled_rolling_nginx_deploy.py"
)

INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
  - { id: web-03, groups: [web], connection: local }
  - { id: db-01, groups: [db], connection: { type: ssh, conn_id: db01_ssh } }
"""
WEB = ["web-01", "web-02", "web-03"]

# Job and phase pre/post checks (a backend, an HTTP probe, cmd), a named
# barrier with retries, a timeout and a concurrency share, a pipeline with a
# concurrency limit, retries and conditions, an on_failure barrier with a
# budget, a one-task pipeline, and the job's timeout.
RICH = """\
name: rich-job
description: 'A job with everything \"\"\" that maps'
target: group:web
strategy: fail-fast
timeout: 20m
checks:
  pre:
    - { backend: ping, action: hostname, timeout: 15s }
    - http: { url: "http://127.0.0.1:9/health", expect_status: 200 }
  post:
    - { backend: cmd, action: run, params: { argv: ["true"], env: { MODE: check } } }
tasks:
  - name: warm up
    backend: ping
    action: echo
    params: { message: hi }
    max_retries: 2
    timeout: 45s
    concurrency: "50%"
  - name: install
    concurrency: 1
    checks:
      pre: [{ backend: test, action: succeed }]
      post: [{ backend: ping, action: hostname }]
    tasks:
      - { backend: test, action: flaky, params: { rate: 10 }, max_retries: 3, timeout: 20s }
      - { name: say, backend: ping, action: echo, params: { message: done }, condition: on_success }
  - { condition: on_failure, backend: ping, action: echo, params: { message: undo },
      tolerate_failures: 1 }
  - name: single
    tasks:
      - { backend: test, action: succeed }
"""

# Text that breaks naive generators, wherever a job file carries text: the
# description, phase and task names, parameters, the file's name.
HOSTILE = r"""
name: hostile
description: "\"\"\" ''' \\ \n \u2028 ${x} # \0 )\nimport os\n("
target: all
tasks:
  - name: "a\"\"\"b'''c\\d\ne # f\u202e"
    backend: ping
    action: echo
    params: { message: "'''\"\"\" \\ \u2028 # \"\"\")\nimport os" }
  - name: ")\nimport os\n("
    tasks:
      - { name: "x\"y", backend: cmd, action: run, params: { shell: "echo '\"\"\"' # \\" } }
      - { name: "__import__('os')", backend: test, action: succeed }
      - { name: "{}", backend: test, action: succeed }
"""


def write_job(folder: Path, text: str, name: str = "job.yaml") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / name
    job.write_text(textwrap.dedent(text), encoding="utf-8")
    inventory = folder / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    return job, inventory


def load(job: Path, inventory: Path | None) -> tuple[JobPlan, list[str]]:
    checked = check_job(job, inventory, environ={})
    return checked.plan, [n.id for n in checked.nodes]


def example_jobs() -> list[Path]:
    """Every example job: each must compile."""
    return [p for p in sorted(JOBS.glob("*.yaml")) if p.name != "inventory.yaml"]


def embedded(text: str) -> dict[str, Any]:
    """The module's PLAN_JSON (as a JobPlan), NODES and RECORDS."""
    out: dict[str, Any] = {}
    for stmt in ast.parse(text).body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name in ("PLAN_JSON", "NODES", "RECORDS"):
                out[name] = ast.literal_eval(stmt.value)
    out["PLAN"] = JobPlan.from_json(out.pop("PLAN_JSON"))
    return out


ALLOWED_IMPORTS = {
    "datetime": {"timedelta"},
    "airflow.sdk": {"DAG", "task_group"},
    "gridflow.jobs.inventory": {"inventory_beside"},
    "gridflow.jobs.model": {"JobPlan"},
    "gridflow.operators.job": {
        "JobChecksOperator",
        "JobDuringChecksSensor",
        "JobNodeTaskOperator",
        "JobResultOperator",
    },
}
ALLOWED_CALLS = {
    "JobPlan.from_json",
    "inventory_beside",
    "DAG",
    "task_group",
    "timedelta",
    "JobChecksOperator",
    "JobDuringChecksSensor",
    "JobNodeTaskOperator",
    "JobNodeTaskOperator.partial",
    "JobResultOperator",
}
ALLOWED_COMMENTS = {
    "# Each stage waits for the one before it, whatever its state.",
    "# During-checks sensors run beside their scope's stages.",
}
TOP = ["PLAN_JSON", "PLAN", "NODES", "INVENTORY", "RECORDS", "with"]


def check_structure(text: str) -> None:
    """Only the statements, calls, names and comments the generator writes."""
    assert text.isascii()
    tree = ast.parse(text)
    body = tree.body
    assert isinstance(body[0], ast.Expr)
    assert isinstance(body[0].value, ast.Constant)
    assert isinstance(body[0].value.value, str)
    kinds = []
    for stmt in body[1:]:
        if isinstance(stmt, ast.ImportFrom):
            assert stmt.module in ALLOWED_IMPORTS, stmt.module
            assert {a.name for a in stmt.names} <= ALLOWED_IMPORTS[stmt.module]
            assert all(a.asname is None for a in stmt.names)
            kinds.append("import")
        elif isinstance(stmt, ast.Assign):
            kinds.append(ast.unparse(stmt.targets[0]))
        else:
            assert isinstance(stmt, ast.With)
            kinds.append("with")
    assert kinds[-len(TOP) :] == TOP
    assert set(kinds[: -len(TOP)]) == {"import"}
    values = {ast.unparse(s.targets[0]): s.value for s in body if isinstance(s, ast.Assign)}
    assert isinstance(values["PLAN_JSON"], ast.Constant)
    assert ast.unparse(values["PLAN"]) == "JobPlan.from_json(PLAN_JSON)"
    assert ast.unparse(values["INVENTORY"]) == "inventory_beside(__file__)"
    for name in ("NODES", "RECORDS"):
        listed = values[name]
        assert isinstance(listed, ast.List)
        assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in listed.elts)
    with_stmt = body[-1]
    assert isinstance(with_stmt, ast.With)
    assert ast.unparse(with_stmt.items[0].optional_vars) == "dag"  # type: ignore[arg-type]
    _check_block(with_stmt.body, top=True)
    for node in ast.walk(tree):
        assert not isinstance(
            node,
            (ast.JoinedStr, ast.Lambda, ast.Subscript, ast.Starred, ast.Import, ast.Global),
        )
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            assert func in ALLOWED_CALLS or func.endswith(".expand"), func
            assert not any(k.arg is None for k in node.keywords)  # no **kwargs
            if func.endswith(".expand"):
                assert [ast.unparse(k) for k in node.keywords] == ["node=NODES"]
        if isinstance(node, ast.Attribute):
            assert node.attr in {"from_json", "partial", "expand"}
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            assert node.id == "__file__"
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            assert tok.string in ALLOWED_COMMENTS, tok.string


def _check_block(stmts: list[ast.stmt], *, top: bool) -> None:
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            assert len(stmt.targets) == 1
            assert isinstance(stmt.targets[0], ast.Name)
            assert isinstance(stmt.value, ast.Call)
        elif isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.BinOp):
                assert isinstance(value.op, ast.RShift)
                assert isinstance(value.left, ast.Name)
                assert isinstance(value.right, ast.Name)
            else:
                assert isinstance(value, ast.Call)
        else:
            assert isinstance(stmt, ast.FunctionDef), ast.dump(stmt)
            assert top
            assert [ast.unparse(d.func) for d in stmt.decorator_list] == ["task_group"]  # type: ignore[attr-defined]
            assert [a.arg for a in stmt.args.args] == ["node"]
            _check_block(stmt.body, top=False)


def check_embedded(text: str, plan: JobPlan, nodes: list[str]) -> None:
    found = embedded(text)
    assert found["PLAN"] == plan
    assert found["NODES"] == nodes
    shape = job_dag_shape(plan, nodes)
    assert found["RECORDS"] == [t.full_id for t in shape.tasks() if t.kind != "result"]


# ------------------------------------------------------------------- tests


def test_examples_and_a_rich_job_are_ruff_clean_and_plain(tmp_path: Path) -> None:
    examples = example_jobs()
    assert {p.name for p in examples} >= {
        "continue_with_budget.yaml",
        "pipeline_and_barrier.yaml",
        "rolling_nginx_deploy.yaml",
    }
    jobs = [(p, JOBS / "inventory.yaml") for p in examples]
    jobs.append(write_job(tmp_path / "rich", RICH))
    jobs.append(write_job(tmp_path / "hostile", HOSTILE))
    files = {}
    for job, inventory in jobs:
        plan, nodes = load(job, inventory)
        text = render_job_dag_module(plan, nodes, source_note=f"gridflow compile {job.name}")
        check_structure(text)
        check_embedded(text, plan, nodes)
        files[f"dag_{job.parent.name}_{job.stem}.py"] = text
    assert ruff_problems(files, tmp_path) == ""


def test_the_rich_job_maps_every_feature(tmp_path: Path) -> None:
    plan, nodes = load(*write_job(tmp_path, RICH))
    text = render_job_dag_module(plan, nodes)
    assert nodes == WEB  # group:web, in inventory order; db-01 is not selected
    tree = ast.parse(text)
    calls = {
        ast.literal_eval(k.value): call
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        for k in call.keywords
        if k.arg == "task_id"
    }
    assert sorted(calls) == sorted(
        [
            "job.pre_checks",
            "0.warm_up",
            "1.pre_checks",
            "1.0.test.flaky",
            "1.1.say",
            "1.post_checks",
            "2.ping.echo",
            "3.0.test.succeed",
            "job.post_checks",
            "job.result",
        ]
    )

    def kw(task_id: str) -> dict[str, str]:
        return {str(k.arg): ast.unparse(k.value) for k in calls[task_id].keywords}

    warm = kw("0.warm_up")
    assert (warm["retries"], warm["retry_delay"]) == ("2", "timedelta(seconds=1)")
    assert warm["max_retry_delay"] == "timedelta(seconds=30)"
    assert warm["execution_timeout"] == "timedelta(seconds=75)"  # 45 s + 30 s grace
    assert warm["max_active_tis_per_dagrun"] == "1"  # 50 % of 3 nodes
    assert kw("1.0.test.flaky")["node"] == "node"
    assert kw("1.0.test.flaky")["max_active_tis_per_dagrun"] == "1"
    assert (kw("1.pre_checks")["scope"], kw("1.pre_checks")["stage"]) == ("1", "'pre'")
    assert kw("job.post_checks")["scope"] == "None"
    assert "dagrun_timeout=timedelta(seconds=1230)" in text  # 20 min + 30 s
    assert "        t_1_0_test_flaky >> t_1_1_say\n" in text
    assert "    phase1_install_nodes >> t_1_post_checks\n" in text
    assert "    job_post_checks >> job_result\n" in text
    # The one-task pipeline's task is a bare call: nothing refers to it.
    assert '        JobNodeTaskOperator(\n            task_id="3.0.test.succeed"' in text


def test_hostile_job_text_stays_data(tmp_path: Path) -> None:
    job, inventory = write_job(tmp_path / 'jo"b\'\n"""x #${y}\u2028', HOSTILE, 'h """ #\'.yaml')
    plan, nodes = load(job, inventory)
    assert plan.phases[0].name == "a\"\"\"b'''c\\d\ne # f\u202e"  # the YAML says so
    text = render_job_dag_module(plan, nodes, source_note='x"""\n#y\\')
    check_structure(text)
    check_embedded(text, plan, nodes)
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "(h_.yaml)" in docstring  # the file name only, sanitized
    assert '"' not in docstring
    assert "\\" not in docstring
    assert "import os" not in docstring
    names = [
        target.id
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ] + [node.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)]
    assert len(names) == len(set(names))
    assert all(n.isidentifier() for n in names)


def _mutated(
    base: JobPlan, text: str, name: str, file: str, node: str
) -> tuple[JobPlan, list[str]]:
    """``base`` with hostile text wherever a JobPlan carries text of the user's,
    and hostile node ids."""

    def at(item: Any) -> Any:
        return item.model_copy(update={"loc": item.loc.model_copy(update={"file": file})})

    phases = []
    for phase in base.phases:
        tasks = [
            at(t).model_copy(update={"name": name, "params": {**t.params, "message": text}})
            if t.backend == "ping"
            else at(t).model_copy(update={"name": text})
            for t in phase.tasks
        ]
        checks = phase.checks.model_copy(
            update={"pre": [at(c).model_copy(update={"name": text}) for c in phase.checks.pre]}
        )
        phases.append(at(phase).model_copy(update={"name": name, "tasks": tasks, "checks": checks}))
    plan = base.model_copy(update={"description": text, "source": file, "phases": phases})
    return plan, [node, node + "-2"]


@pytest.fixture(scope="module")
def rich_plan(tmp_path_factory: pytest.TempPathFactory) -> JobPlan:
    plan, _ = load(*write_job(tmp_path_factory.mktemp("rich"), RICH))
    return plan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=nasty_text, name=nasty_text, file=nasty_text, node=nasty_text)
def test_hostile_plan_text_never_becomes_code(
    rich_plan: JobPlan, text: str, name: str, file: str, node: str
) -> None:
    plan, nodes = _mutated(rich_plan, text, name, file, node)
    rendered = render_job_dag_module(plan, nodes, source_note=text)
    check_structure(rendered)
    check_embedded(rendered, plan, nodes)


def test_hostile_plans_are_ruff_clean(rich_plan: JobPlan, tmp_path: Path) -> None:
    rng = random.Random(11)

    def nasty() -> str:
        return "".join(rng.choices(NASTY, k=rng.randint(1, 6)))

    files = {}
    for i in range(20):
        plan, nodes = _mutated(rich_plan, nasty() * (i % 4 + 1), nasty(), nasty(), nasty())
        files[f"hostile_{i}.py"] = render_job_dag_module(plan, nodes, source_note=nasty())
    assert ruff_problems(files, tmp_path) == ""


SECRET = "tok-0123456789abcdef"


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        (
            f"tasks:\n  - {{ backend: cmd, action: run, params: {{ shell: x, env: "
            f"{{ API_TOKEN: {SECRET} }} }} }}\n",
            "task 0 (",
        ),
        (
            f"checks:\n  post:\n    - {{ backend: cmd, action: run, params: {{ argv: [x], "
            f"env: {{ db_password: {SECRET} }} }} }}\n"
            "tasks:\n  - { backend: test, action: succeed }\n",
            "the job's check (",
        ),
        (
            f"tasks:\n  - backend: test\n    action: succeed\n    checks:\n      pre:\n"
            f"        - http: {{ url: 'http://u:{SECRET}@127.0.0.1:9/' }}\n",
            "phase 0's check (",
        ),
    ],
    ids=["cmd-task-env", "cmd-check-env", "url-password"],
)
def test_secrets_the_job_marks_are_refused(tmp_path: Path, snippet: str, where: str) -> None:
    plan, nodes = load(*write_job(tmp_path, "name: sec\ntarget: all\n" + snippet))
    with pytest.raises(UsageError, match="would hold these secrets in clear") as caught:
        render_job_dag_module(plan, nodes)
    assert where in str(caught.value)
    assert SECRET not in str(caught.value)


def test_values_that_are_not_secret_are_kept(tmp_path: Path) -> None:
    snippet = (
        "tasks:\n  - { backend: cmd, action: run, params: { shell: x, "
        "env: { MODE: fast, API_TOKEN: '' } } }\n"
    )
    plan, nodes = load(*write_job(tmp_path, "name: ok\ntarget: all\n" + snippet))
    text = render_job_dag_module(plan, nodes)
    assert embedded(text)["PLAN"].phases[0].tasks[0].params["env"] == {
        "MODE": "fast",
        "API_TOKEN": "",
    }


def test_during_checks_compile_to_sensors_in_poke_mode(tmp_path: Path) -> None:
    """A compiled file is for a real Airflow: its during-checks sensors poke
    beside their phase (reschedule mode is for one-task-at-a-time DAG tests)."""
    plan, nodes = load(JOBS / "checks.yaml", JOBS / "inventory.yaml")
    assert plan.phases[0].checks.during
    job_dag_shape(plan, nodes)  # Airflow takes it
    text = render_job_dag_module(plan, nodes)
    check_structure(text)
    assert "JobDuringChecksSensor(" in text
    assert "mode='poke'" in text or 'mode="poke"' in text


def test_ids_airflow_would_refuse_are_usage_errors(rich_plan: JobPlan) -> None:
    for bad in ("has space", "x\n", "a" * 251):
        with pytest.raises(UsageError, match="DAG id"):
            render_job_dag_module(rich_plan, WEB, dag_id=bad)
    long = rich_plan.phases[1].model_copy(update={"name": "n" * 260})
    too_long = rich_plan.model_copy(update={"phases": [rich_plan.phases[0], long]})
    with pytest.raises(UsageError, match="longer than 250 characters"):
        render_job_dag_module(too_long, WEB)
    with pytest.raises(UsageError, match="selects no node"):
        render_job_dag_module(rich_plan, [])


def test_the_dag_id_is_the_file_stem_as_for_the_loader(rich_plan: JobPlan) -> None:
    assert 'dag_id="job"' in render_job_dag_module(rich_plan, WEB)  # job.yaml
    assert 'dag_id="mine.v2"' in render_job_dag_module(rich_plan, WEB, dag_id="mine.v2")


def test_inventory_beside_a_file(tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "x.py"
    dag_file.parent.mkdir()
    assert inventory_beside(str(dag_file)) is None
    (tmp_path / "dags" / "inventory.yml").write_text(INVENTORY)
    assert inventory_beside(str(dag_file)) == str((tmp_path / "dags" / "inventory.yml").resolve())
    (tmp_path / "dags" / "inventory.yaml").write_text(INVENTORY)
    assert inventory_beside(str(dag_file)) == str((tmp_path / "dags" / "inventory.yaml").resolve())


# -------------------------------------------------------------------- CLI


def _cli(args: list[str], **env: str) -> Any:
    return CliRunner().invoke(app, args, env={"GRIDFLOW_INVENTORY": "", **env})


def test_cli_compiles_a_job(tmp_path: Path) -> None:
    job, inventory = write_job(tmp_path, RICH)
    plan, nodes = load(job, inventory)
    args = ["compile", str(job), "--to", "airflow", "-i", str(inventory)]
    result = _cli(args)
    assert result.exit_code == 0, result.stderr
    note = f"gridflow compile {job} --to airflow -i {inventory}"
    assert result.stdout == render_job_dag_module(plan, nodes, source_note=note)
    # The inventory from the environment, a target and a DAG id; into a file.
    out = tmp_path / "dags" / "x.py"
    out.parent.mkdir()
    result = _cli(
        [
            "compile",
            str(job),
            "--to",
            "airflow",
            "-t",
            "node:web-02",
            "--dag-id",
            "x1",
            "-o",
            str(out),
        ],
        GRIDFLOW_INVENTORY=str(inventory),
    )
    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr.strip()) == ("", f"wrote {out}")
    text = out.read_text(encoding="utf-8")
    found = embedded(text)
    assert found["NODES"] == ["web-02"]
    assert str(found["PLAN"].target) == "node:web-02"
    assert 'dag_id="x1"' in text
    assert f"-t node:web-02 --dag-id x1 -o {out}" in " ".join(text.split())


def test_cli_compiles_a_job_plan_without_an_inventory(tmp_path: Path) -> None:
    job, _ = write_job(tmp_path, RICH)
    result = _cli(["compile", str(job)])
    assert result.exit_code == 0, result.stderr
    assert JobPlan.from_json(result.stdout) == load(job, None)[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "airflow"], "no inventory: a job's DAG runs on the nodes its target selects"),
        (["--to", "airflow", "-i", "{dir}/nosuch.yaml"], "nosuch.yaml:1:1: error: cannot read"),
        (["--to", "airflow", "-i", "{inv}", "-t", "group:nosuch"], 'is in group "nosuch"'),
        (["--to", "airflow", "-i", "{inv}", "--dag-id", "bad id"], "cannot be an Airflow DAG id"),
        (["--dag-id", "x"], "--dag-id goes with --to airflow"),
        (["--to", "airflow", "-i", "{inv}", "-var", "a=b"], "jobs have none"),
        (["{dir}/other.yaml", "--to", "airflow", "-i", "{inv}"], "compile one job file at a time"),
        (["--to", "airflow", "-i", "{inv}", "-o", "{dir}/no/such/x.py"], "cannot write"),
    ],
    ids=[
        "no-inventory",
        "missing-inventory",
        "unknown-group",
        "bad-dag-id",
        "dag-id-without-airflow",
        "grid-variables",
        "two-jobs",
        "unwritable-output",
    ],
)
def test_cli_bad_input_exits_2_without_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    job, inventory = write_job(tmp_path, RICH)
    words = [a.format(dir=tmp_path, inv=inventory) for a in args]
    result = _cli(["compile", str(job), *words])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("job_text", "message"),
    [
        ("name: x\ntarget: all\ntasks:\n  - { backend: nope }\n", 'unknown backend "nope"'),
        ("name: x\ntarget: all\ntasks: [\n", "job.yaml:"),
        (
            f"name: x\ntarget: all\ntasks:\n  - {{ backend: cmd, action: run, params: "
            f"{{ shell: x, env: {{ TOKEN: {SECRET} }} }} }}\n",
            "would hold these secrets in clear",
        ),
    ],
    ids=["unknown-backend", "bad-yaml", "secret"],
)
def test_cli_bad_job_exits_2_without_traceback(tmp_path: Path, job_text: str, message: str) -> None:
    job, inventory = write_job(tmp_path, job_text)
    result = _cli(["compile", str(job), "--to", "airflow", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_cli_compiles_a_job_with_during_checks() -> None:
    job, inventory = JOBS / "checks.yaml", JOBS / "inventory.yaml"
    result = _cli(["compile", str(job), "--to", "airflow", "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    check_structure(result.stdout)
    assert "JobDuringChecksSensor(" in result.stdout


def test_cli_keeps_grid_and_job_options_apart(tmp_path: Path) -> None:
    grid = str(ROOT / "dags_examples" / "airflow" / "fleet_greetings.hcl")
    result = _cli(["compile", grid, "--to", "airflow", "-i", "x.yaml"])
    assert result.exit_code == 2
    assert "--inventory and --target go with a job file" in result.stderr
    job, inventory = write_job(tmp_path, RICH)
    result = _cli(["compile", grid, str(job), "--to", "airflow", "-i", str(inventory)])
    assert result.exit_code == 2
    assert "grids (.hcl files or directories) compile separately" in result.stderr


def test_checked_in_example_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan, nodes = load(
        Path("dags_examples/jobs/rolling_nginx_deploy.yaml"),
        Path("dags_examples/jobs/inventory.yaml"),
    )
    fresh = render_job_dag_module(plan, nodes, source_note=EXAMPLE_COMMAND)
    assert EXAMPLE_FILE.read_text(encoding="utf-8") == fresh, (
        f"{EXAMPLE_FILE.name} is stale; regenerate it from the repository root with: "
        f"{EXAMPLE_COMMAND}"
    )
    result = CliRunner().invoke(app, EXAMPLE_COMMAND.split()[1:-2], env={"GRIDFLOW_INVENTORY": ""})
    assert result.exit_code == 0, result.stderr
    # Without -o the note differs only there.
    assert result.stdout == render_job_dag_module(
        plan, nodes, source_note=EXAMPLE_COMMAND.rsplit(" -o ", 1)[0]
    )
