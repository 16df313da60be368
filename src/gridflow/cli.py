"""The ``gridflow`` command line: wiring only, no semantics.

Exit codes: 0 success, 1 the run failed, 2 bad input (files, flags,
variables), 3 an internal error (a bug in gridflow). Machine-readable
output goes to stdout; logs, progress and errors go to stderr.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from gridflow._version import __version__
from gridflow.errors import Diagnostic, GridflowError, LoadError, UsageError
from gridflow.runtime.masking import Masker, MaskingFilter

if TYPE_CHECKING:
    from gridflow.jobs import JobPlan
    from gridflow.jobs.run import JobRun
    from gridflow.nodes.base import NodeSpec

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="gridflow",
    help="Compile HCL grids into Airflow DAGs and Prefect flows, or run them now.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Engine(str, enum.Enum):
    prefect = "prefect"
    local = "local"
    airflow = "airflow"


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class GraphFormat(str, enum.Enum):
    mermaid = "mermaid"
    dot = "dot"


class CompileTarget(str, enum.Enum):
    plan = "plan"
    airflow = "airflow"


PathsArg = Annotated[
    list[Path], typer.Argument(help="Grid files or directories (every *.hcl under them).")
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option("-var", "--var", help="Set a variable: -var name=value (repeatable)."),
]
VarFileOpt = Annotated[
    list[Path] | None,
    typer.Option("-var-file", "--var-file", help="Variable values from a .hcl/.json/.yaml file."),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="Use profiles/NAME.(hcl|json|yaml) beside the grid."),
]


def _stderr(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _bad_input(exc: GridflowError) -> NoReturn:
    if isinstance(exc, LoadError):
        for diag in exc.diagnostics:
            _stderr(str(diag))
        n = len(exc.diagnostics)
        _stderr(f"{n} error{'s' if n != 1 else ''} found.")
    else:
        _stderr(f"error: {exc}")
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn gridflow's own input errors into messages and exit code 2."""
    try:
        yield
    except (LoadError, UsageError) as exc:
        _bad_input(exc)


def _setup_logging(verbose: int, masker: Masker) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Every record leaving through this handler has the run's secrets masked.
    handler.addFilter(MaskingFilter(masker))
    root = logging.getLogger("gridflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # Values of `print` steps are the run's own output: always shown on stderr
    # (stdout stays machine-readable), masked like every other line.
    printed = _CurrentStderrHandler()
    printed.setFormatter(logging.Formatter("%(message)s"))
    printed.addFilter(MaskingFilter(masker))
    print_log = logging.getLogger("gridflow.print")
    print_log.handlers[:] = [printed]
    print_log.setLevel(logging.INFO)
    print_log.propagate = False


class _CurrentStderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at emit time, so lines land above
    rich's live progress display instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging must never break a run
            self.handleError(record)


def _load(
    paths: list[Path],
    var: list[str] | None,
    var_file: list[Path] | None,
    profile: str | None,
) -> Any:
    from gridflow.translators.hcl import load_grid

    return load_grid(
        paths,
        var_args=var or (),
        var_files=var_file or (),
        profile=profile,
        environ=os.environ,
    )


def gridflow_home() -> Path:
    return Path(os.environ.get("GRIDFLOW_HOME") or Path.home() / ".gridflow")


JOB_SUFFIXES = (".yaml", ".yml", ".json")

InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Jobs: the inventory file (default: $GRIDFLOW_INVENTORY).",
    ),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        help="Jobs: run on all | group:NAME | node:ID instead of the job's target.",
    ),
]


def _is_job_file(path: Path) -> bool:
    return path.suffix.lower() in JOB_SUFFIXES and not path.is_dir()


@app.command()
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Grid files or directories (every *.hcl under them), or job files "
            "(.yaml, .yml, .json)."
        ),
    ],
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    profile: ProfileOpt = None,
    inventory: InventoryOpt = None,
    target: TargetOpt = None,
) -> None:
    """Check grids or jobs and report every problem at once (exit 2 on any)."""
    jobs = [p for p in paths if _is_job_file(p)]
    with _user_errors():
        if jobs:
            if len(jobs) != len(paths):
                raise UsageError("validate grids (.hcl) and jobs (.yaml) in separate commands")
            if var or var_file or profile:
                raise UsageError("-var, -var-file and --profile set grid variables; jobs have none")
            _validate_jobs(jobs, inventory, target)
            return
        if inventory is not None or target is not None:
            raise UsageError("--inventory and --target go with job files (.yaml)")
        loaded = _load(paths, var, var_file, profile)
    plan = loaded.plan
    instances = sum(1 for _ in plan.steps)
    _stderr(f"ok: {plan.name}: {instances} steps, {len(plan.variables)} variables")


def _validate_jobs(paths: list[Path], inventory: Path | None, target: str | None) -> None:
    """Check every job file; print all of their problems, then exit 2 if any.

    The inventory itself among the paths (``validate jobs/*.yaml -i
    jobs/inventory.yaml``) is checked as the inventory, not as a job.
    """
    from gridflow.jobs import check_job, load_inventory
    from gridflow.jobs.inventory import find_inventory

    problems: list[Diagnostic] = []
    summaries: list[str] = []
    warned: set[Diagnostic] = set()
    found = find_inventory(inventory, os.environ)
    if found is not None and any(_same_file(p, found) for p in paths):
        paths = [p for p in paths if not _same_file(p, found)]
        try:
            loaded = load_inventory(found, environ=os.environ, resolve_secrets=False)
        except LoadError as exc:
            problems.extend(exc.diagnostics)
        else:
            groups = loaded.groups()
            in_groups = f" in groups {', '.join(groups)}" if groups else ""
            count = len(loaded.nodes)
            summaries.append(
                f"ok: {found}: the inventory, {count} node{'s' if count != 1 else ''}{in_groups}"
            )
            if not paths:  # only the inventory was named: its warnings are all there is
                for warning in loaded.warnings:
                    warned.add(warning)
                    _stderr(_warning_text(warning))
    for path in paths:
        try:
            checked = check_job(path, inventory, target=target, environ=os.environ)
        except LoadError as exc:
            problems.extend(exc.diagnostics)
            continue
        for warning in checked.warnings:
            if warning not in warned:  # one inventory, many jobs: warn once
                warned.add(warning)
                _stderr(_warning_text(warning))
        summaries.append(checked.summary())
    if problems:
        raise LoadError(problems)
    for line in summaries:
        _stderr(line)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: the job's own error says so
        return False


def _warning_text(diag: Diagnostic) -> str:
    text = f"{diag.file}:{diag.line}:{diag.col}: warning: {diag.message} [{diag.code}]"
    return text + (f"\n  hint: {diag.hint}" if diag.hint else "")


@app.command()
def graph(
    paths: PathsArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Diagram syntax.")] = (
        GraphFormat.mermaid
    ),
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print the step graph as Mermaid or Graphviz DOT."""
    from gridflow.plan.graph import to_dot, to_mermaid

    with _user_errors():
        loaded = _load(paths, var, var_file, profile)
    render: Callable[[Any], str] = to_mermaid if fmt is GraphFormat.mermaid else to_dot
    sys.stdout.write(render(loaded.plan))


@app.command(name="compile")
def compile_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Grid files or directories (every *.hcl under them), or one job file "
            "(.yaml, .yml, .json)."
        ),
    ],
    to: Annotated[
        CompileTarget,
        typer.Option(
            "--to",
            help="plan: the engine-neutral Plan or JobPlan (JSON); airflow: a DAG file to put "
            "in Airflow's dags folder (Python; needs no grid or job file at run time).",
        ),
    ] = CompileTarget.plan,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    dag_id: Annotated[
        str | None,
        typer.Option(
            "--dag-id",
            help="--to airflow: the DAG id (default: the grid's name, or the job file's stem).",
        ),
    ] = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    profile: ProfileOpt = None,
    inventory: InventoryOpt = None,
    target: TargetOpt = None,
) -> None:
    """Compile grids or a job into an engine-neutral plan (JSON) or an Airflow DAG file."""
    with _user_errors():
        if dag_id is not None and to is not CompileTarget.airflow:
            raise UsageError("--dag-id goes with --to airflow")
        if any(_is_job_file(p) for p in paths):
            if var or var_file or profile:
                raise UsageError("-var, -var-file and --profile set grid variables; jobs have none")
            text = _compile_job(paths, to, output, dag_id, inventory, target)
        else:
            if inventory is not None or target is not None:
                raise UsageError("--inventory and --target go with a job file (.yaml)")
            text = _compile_grid(paths, to, output, dag_id, var, var_file, profile)
        if output is not None:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    if output is None:
        sys.stdout.write(text)
    else:
        _stderr(f"wrote {output}")


def _compile_grid(
    paths: list[Path],
    to: CompileTarget,
    output: Path | None,
    dag_id: str | None,
    var: list[str] | None,
    var_file: list[Path] | None,
    profile: str | None,
) -> str:
    loaded = _load(_below_cwd(paths), var, var_file, profile)
    if to is not CompileTarget.airflow:
        return str(loaded.plan.to_json()) + "\n"
    from gridflow.engines.airflow.codegen import render_dag_module

    return render_dag_module(
        loaded.plan,
        dag_id=dag_id,
        source_note=_compile_command(paths, dag_id, output, var, var_file, profile),
    )


def _compile_job(
    paths: list[Path],
    to: CompileTarget,
    output: Path | None,
    dag_id: str | None,
    inventory: Path | None,
    target: str | None,
) -> str:
    """A job's JobPlan, or its DAG file: the plan and the nodes its target
    selects now (docs/decisions/0008-compiled-job-dags.md). No secret is read."""
    from gridflow.jobs import check_job
    from gridflow.jobs.dryrun import preflight
    from gridflow.jobs.inventory import INVENTORY_ENV, find_inventory

    if len(paths) != 1:
        raise UsageError(
            "compile one job file at a time; grids (.hcl files or directories) compile separately"
        )
    found = find_inventory(inventory, os.environ)
    if found is None and to is CompileTarget.airflow:
        raise UsageError(
            "no inventory: a job's DAG runs on the nodes its target selects when it is "
            f"compiled; pass --inventory FILE or set {INVENTORY_ENV} (docs/jobs.md#inventory)"
        )
    checked = check_job(_below_cwd(paths)[0], found, target=target, environ=os.environ)
    for warning in checked.warnings:
        _stderr(_warning_text(warning))
    preflight(checked.plan)
    if to is not CompileTarget.airflow:
        return checked.plan.to_json() + "\n"
    from gridflow.engines.airflow.job_codegen import render_job_dag_module

    words = ["gridflow compile", str(paths[0]), "--to airflow"]
    if inventory is not None:
        words += ["-i", str(inventory)]
    if target is not None:
        words += ["-t", target]
    if dag_id is not None:
        words += ["--dag-id", dag_id]
    if output is not None:
        words += ["-o", str(output)]
    return render_job_dag_module(
        checked.plan,
        [n.id for n in checked.nodes],
        dag_id=dag_id,
        source_note=" ".join(words),
    )


def _below_cwd(paths: list[Path]) -> list[Path]:
    """``paths``, those inside the current directory made relative to it.

    A compiled plan records each file as it was given: in every step's and
    task's location, which error messages and the DAG's "Grid source" links
    (``{path}``) read. Relative to where ``gridflow compile`` ran (the
    repository root, say) that is the file's place in the repository, and
    the compiling machine's own folders stay out of the DAG file.
    """
    cwd = Path.cwd()
    out: list[Path] = []
    for path in paths:
        if path.is_absolute():
            with suppress(ValueError):
                path = path.relative_to(cwd)
        out.append(path)
    return out


def _compile_command(
    paths: list[Path],
    dag_id: str | None,
    output: Path | None,
    var: list[str] | None,
    var_file: list[Path] | None,
    profile: str | None,
) -> str:
    """How to make the file again, for its docstring (no -var values: they may be secret)."""
    words = ["gridflow compile", *(str(p) for p in paths), "--to airflow"]
    if dag_id is not None:
        words += ["--dag-id", dag_id]
    if output is not None:
        words += ["-o", str(output)]
    note = " ".join(words)
    if var or var_file or profile:
        note += ", with the same -var, -var-file and --profile options"
    return note


@app.command()
def run(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Grid files or directories (every *.hcl under them); or one job file "
            "(.yaml, .yml, .json); or, with -t, BACKEND ACTION [NAME=VALUE ...]: a job of "
            "one task (gridflow run -t group:web apt install package=nginx).",
            metavar="GRID... | JOB | BACKEND ACTION [NAME=VALUE]",
        ),
    ],
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    profile: ProfileOpt = None,
    engine: Annotated[
        Engine | None,
        typer.Option(
            "--engine",
            "-e",
            help="prefect: an embedded Prefect flow run (no server to start; the default "
            "for grids); local: plain asyncio in this process, fastest start (the default "
            "for jobs); airflow: Airflow's DAG test mode on a SQLite DB under GRIDFLOW_HOME "
            "(needs gridflow\\[airflow]; tasks run one at a time).",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("-o", "--output", help="text summary or one JSON document.")
    ] = OutputFormat.text,
    max_parallel: Annotated[
        int, typer.Option("--max-parallel", min=1, help="Instances in flight at most.")
    ] = 100,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True)] = 0,
    inventory: InventoryOpt = None,
    target: TargetOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Jobs: resolve the nodes, validate every parameter and print what each "
            "node would run; run nothing.",
        ),
    ] = False,
) -> None:
    """Run a grid or a job now and report every step (exit 0 only on success)."""
    masker = Masker()
    _setup_logging(verbose, masker)
    kind = _run_kind(paths, target)
    if kind != "grid":
        _run_job(
            paths, kind, engine, output, inventory, target, check, masker, var, var_file, profile
        )
    with _user_errors():
        if inventory is not None or target is not None or check:
            raise UsageError(
                "--inventory, --target and --check go with a job file (.yaml) or the "
                "BACKEND ACTION shorthand"
            )
    _run_grid(
        [Path(p) for p in paths], var, var_file, profile, engine, output, max_parallel, masker
    )


def _run_grid(
    paths: list[Path],
    var: list[str] | None,
    var_file: list[Path] | None,
    profile: str | None,
    engine: Engine | None,
    output: OutputFormat,
    max_parallel: int,
    masker: Masker,
) -> NoReturn:
    from gridflow.progress import RunProgress

    engine = engine or Engine.prefect
    with _user_errors():
        loaded = _load(paths, var, var_file, profile)
        if loaded.missing:
            names = ", ".join(loaded.missing)
            raise UsageError(
                f"no value for required variable(s) {names}: "
                f"pass -var {loaded.missing[0]}=VALUE, a -var-file, "
                f"or GRIDFLOW_VAR_{loaded.missing[0]}"
            )
    plan = loaded.plan
    first = paths[0]
    base_dir = str(first if first.is_dir() else first.parent)
    with RunProgress(plan, enabled=output is OutputFormat.text or sys.stderr.isatty()) as progress:
        kwargs: dict[str, Any] = {
            "base_dir": base_dir,
            "environ": dict(os.environ),
            "max_parallel": max_parallel,
            "on_event": progress.event,
            "masker": masker,
        }
        if engine is Engine.local:
            from gridflow.engines.local import run_grid
        elif engine is Engine.airflow:
            run_grid = _airflow_engine()
        else:
            from gridflow.engines.prefect import configure_prefect_environment

            configure_prefect_environment(gridflow_home())
            from gridflow.engines.prefect import run_grid
        try:
            finished = run_grid(plan, loaded.values, **kwargs)
        except KeyboardInterrupt:
            _stderr("interrupted")
            raise typer.Exit(130) from None
    result = finished.result()
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        from gridflow.progress import summary_text

        sys.stdout.write(summary_text(result))
    raise typer.Exit(EXIT_OK if result["status"] == "success" else EXIT_FAILED)


@app.command()
def deploy(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Grid files or directories (every *.hcl under them)."),
    ],
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the deployment from this process until Ctrl-C (like flow.serve): "
            "its runs execute here.",
        ),
    ] = False,
    work_pool: Annotated[
        str | None,
        typer.Option(
            "--work-pool",
            "-p",
            help="Register the deployment on this work pool (like flow.deploy); its workers "
            "need gridflow\\[prefect] installed, no grid files.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="The deployment's name (default: the grid's name)."),
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help='Run on a cron schedule, e.g. "0 6 * * *".')
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help='Run every DURATION, e.g. "15m", "1h".')
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for the deployment (repeatable).")
    ] = None,
    max_parallel: Annotated[
        int,
        typer.Option("--max-parallel", min=1, help="Instances in flight at most, per run."),
    ] = 100,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    profile: ProfileOpt = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "-o", "--output", help="text, or one JSON document describing the deployment."
        ),
    ] = OutputFormat.text,
) -> None:
    """Create a Prefect deployment of a grid: served here, or on a work pool.

    Variables become the deployment's parameters, with the values given here
    (-var, -var-file, --profile, the grid's defaults) as their defaults, except
    sensitive ones: those are never stored (docs/prefect.md#deployments).
    """
    with _user_errors():
        if any(_is_job_file(p) for p in paths):
            raise UsageError(
                "gridflow deploy takes grids (.hcl files or directories); deploying jobs is "
                "not supported yet: run a job on Prefect with gridflow run JOB.yaml "
                "--engine prefect"
            )
        if serve == (work_pool is not None):
            raise UsageError(
                "choose where the runs execute: --serve (this process, until Ctrl-C) or "
                "--work-pool POOL (a Prefect work pool's workers)"
            )
        loaded = _load(_below_cwd(paths), var, var_file, profile)
        _prefect_available("gridflow deploy")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from gridflow.engines import prefect_deploy as pd

        schedule = pd.schedule_of(cron, interval)
        deployment_name = pd.deployment_name(loaded.plan, name)
        deployment = pd.build_deployment(
            loaded.plan,
            loaded.values,
            name=deployment_name,
            schedule=schedule,
            max_parallel=max_parallel,
            work_pool=work_pool,
            tags=tag,
        )
        api_url = pd.check_api()
        if work_pool is not None:
            pool_type = pd.check_work_pool(work_pool)
            deployment_id = pd.register(deployment, work_pool)
    plan = loaded.plan
    full_name = f"{deployment.flow_name}/{deployment.name}"
    secret_names = [n for n, v in plan.variables.items() if v.sensitive]
    if work_pool is None:
        _stderr(
            f"serving {full_name} from this process (Prefect API {api_url}); stop with Ctrl-C\n"
            f"  run it: prefect deployment run '{full_name}'"
            + "".join(f" -p {n}=VALUE" for n in loaded.missing)
        )
        secrets = pd.secret_environment(plan, loaded.values)
        pd.serve(deployment, secrets)
        _stderr(f"stopped serving {full_name}")
        raise typer.Exit(EXIT_OK)
    if output is OutputFormat.json:
        doc = {
            "deployment": full_name,
            "id": deployment_id,
            "work_pool": work_pool,
            "parameters": list(plan.variables),
            "sensitive": secret_names,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    _stderr(
        f"deployment {full_name} ({deployment_id}) registered on work pool {work_pool} "
        f"({pool_type})\n"
        f"  start a worker where gridflow[prefect] is installed: "
        f"prefect worker start --pool {work_pool}\n"
        f"  run it: prefect deployment run '{full_name}'"
        + "".join(f" -p {n}=VALUE" for n in loaded.missing)
    )
    if secret_names:
        _stderr(
            f"  sensitive variable(s) {', '.join(secret_names)}: not stored in the deployment; "
            f"set GRIDFLOW_VAR_{secret_names[0]} in the worker's environment"
        )


def _prefect_available(what: str) -> None:
    import importlib.util

    if importlib.util.find_spec("prefect") is None:
        raise UsageError(f'{what} needs Prefect: pip install "gridflow[prefect]"')


def _run_kind(words: list[str], target: str | None) -> str:
    """What ``gridflow run WORDS`` names: "job" (a job file), "shorthand"
    (BACKEND ACTION NAME=VALUE...) or "grid" (files or directories)."""
    if any(_is_job_file(Path(w)) for w in words):
        return "job"
    from gridflow.backends.catalog import backend_names

    first = words[0]
    if not Path(first).exists() and (first in backend_names() or target is not None):
        return "shorthand"
    return "grid"


def _run_job(
    words: list[str],
    kind: str,
    engine: Engine | None,
    output: OutputFormat,
    inventory: Path | None,
    target: str | None,
    check: bool,
    masker: Masker,
    var: list[str] | None,
    var_file: list[Path] | None,
    profile: str | None,
) -> NoReturn:
    """A job file or the shorthand: load, then a dry run (--check) or a run."""
    from gridflow.jobs.dryrun import dry_run, dry_run_text, preflight

    with _user_errors():
        if var or var_file or profile:
            raise UsageError("-var, -var-file and --profile set grid variables; jobs have none")
        plan, nodes = _load_job(words, kind, inventory, target, check)
        preflight(plan)
    if check:
        doc = dry_run(plan, nodes)
        if output is OutputFormat.json:
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            sys.stdout.write(dry_run_text(doc))
        raise typer.Exit(EXIT_OK)
    from gridflow.jobs.progress import JobProgress, job_summary_text

    with _user_errors():
        run_job = _job_engine(engine, inventory)
    progress = JobProgress()
    try:
        finished = run_job(plan, nodes, on_event=progress.event, masker=masker)
    except KeyboardInterrupt:
        _stderr("interrupted")
        raise typer.Exit(130) from None
    result = finished.result()
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(job_summary_text(result))
    raise typer.Exit(EXIT_OK if result["status"] == "success" else EXIT_FAILED)


def _job_engine(engine: Engine | None, inventory: Path | None) -> Callable[..., JobRun]:
    """The ``run_job`` of the chosen engine (local by default for jobs)."""
    if engine is Engine.airflow:
        import functools

        from gridflow.jobs.inventory import require_inventory

        _airflow_engine()  # a usage error when Airflow is not installed
        from gridflow.engines.airflow.job_run import run_job as run_on_airflow

        # The DAG's tasks read the nodes from the inventory file, as workers do.
        return functools.partial(run_on_airflow, inventory=require_inventory(inventory, os.environ))
    if engine is Engine.prefect:
        from gridflow.engines.prefect import configure_prefect_environment

        configure_prefect_environment(gridflow_home())
        from gridflow.engines.prefect_jobs import run_job

        return run_job
    from gridflow.engines.local_jobs import run_job as run_locally

    return run_locally


def _load_job(
    words: list[str], kind: str, inventory: Path | None, target: str | None, check: bool
) -> tuple[JobPlan, list[NodeSpec]]:
    """The plan and its nodes. A dry run reads no secrets (as validate), so it
    works where the password variables are not set."""
    from gridflow.jobs import check_job, load_inventory, load_job, select, target_from_cli
    from gridflow.jobs.inventory import require_inventory
    from gridflow.jobs.shorthand import USAGE, shorthand_job

    if kind == "job":
        if len(words) != 1:
            raise UsageError(
                "run one job file at a time; grids (.hcl files or directories) run separately"
            )
        if not check:
            return load_job(words[0], inventory, target=target, environ=os.environ)
        found = require_inventory(inventory, os.environ)
        checked = check_job(words[0], found, target=target, environ=os.environ)
        for warning in checked.warnings:
            _stderr(_warning_text(warning))
        return checked.plan, list(checked.nodes)
    if target is None:
        raise UsageError(f"the shorthand needs a target (-t all | group:NAME | node:ID): {USAGE}")
    chosen = target_from_cli(target)
    plan = shorthand_job(words, chosen)
    loaded = load_inventory(
        require_inventory(inventory, os.environ), environ=os.environ, resolve_secrets=not check
    )
    return plan, select(loaded.nodes, chosen, inventory=loaded.source)


def _airflow_engine() -> Any:
    """The Airflow engine's run_grid, or a usage error saying how to install it."""
    import importlib.util

    if importlib.util.find_spec("airflow") is None:
        raise UsageError(
            '--engine airflow needs Apache Airflow: pip install "gridflow[airflow]" '
            "(in its own environment: docs/decisions/0002-airflow-environment.md)"
        )
    from gridflow.engines.airflow.run import run_grid

    return run_grid


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"gridflow {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """gridflow: declarative load tests and fleet operations on Airflow and Prefect."""


EXIT_INTERNAL = 3


def main() -> None:
    try:
        app()
    except GridflowError as exc:  # a gridflow error no command caught: still no traceback
        _stderr(f"error: {exc}")
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:
        # A bug of ours, not bad input: say so plainly and keep the traceback
        # for whoever asks (users should never have to read one).
        if os.environ.get("GRIDFLOW_DEBUG"):
            raise
        _stderr(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in gridflow; rerun with GRIDFLOW_DEBUG=1 for the traceback "
            "and report it"
        )
        sys.exit(EXIT_INTERNAL)
