"""YAML job file -> :class:`~gridflow.jobs.model.JobPlan`, or every problem at once.

The file is GRID's job format (SPEC §2, ``seeds/002``) plus Workstream's
checks, concurrency and failure budgets (SPEC §3). Reading order: YAML with
positions (:mod:`gridflow.jobs.yamltree`), the top-level keys, the target,
then each item of ``tasks``: a mapping with ``tasks`` is a pipeline phase,
any other mapping a barrier phase of one task. Each problem becomes a
:class:`~gridflow.errors.Diagnostic` at its file:line:col; all of them are
raised together in one :class:`~gridflow.errors.LoadError`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlsplit

from gridflow.backends.catalog import action_names, get_action
from gridflow.errors import LoadError
from gridflow.jobs.actions import Action, param_names, read_action
from gridflow.jobs.fields import (
    NAME_PATTERN,
    NAME_RULE,
    Problems,
    check_keys,
    expect_bool,
    expect_choice,
    expect_concurrency,
    expect_duration,
    expect_failure_budget,
    expect_int,
    expect_list,
    expect_map,
    expect_str,
    loc,
)
from gridflow.jobs.model import (
    DEFAULT_DURING_INTERVAL_S,
    BackendCheck,
    Check,
    Checks,
    Concurrency,
    Condition,
    FailureBudget,
    HttpCheck,
    JobPlan,
    Phase,
    PhaseKind,
    Strategy,
    Target,
    Task,
)
from gridflow.jobs.targets import read_target
from gridflow.jobs.yamltree import YMap, YScalar, YSeq, YValue, plain, read_yaml
from gridflow.plan.models import Location
from gridflow.runners._http import StatusSet

JOB_KEYS = ("name", "description", "target", "strategy", "timeout", "checks", "tasks")
TASK_KEYS = ("name", "backend", "action", "params", "timeout", "max_retries", "condition")
PHASE_KEYS = ("name", "condition", "concurrency", "tolerate_failures", "checks")
PIPELINE_KEYS = ("tasks", *PHASE_KEYS)
BARRIER_KEYS = (*TASK_KEYS, *PHASE_KEYS[2:])  # name and condition are shared
CHECKS_KEYS = ("pre", "post", "during")
DURING_KEYS = ("interval", "checks")
BACKEND_CHECK_KEYS = ("name", "backend", "action", "params", "timeout")
HTTP_CHECK_KEYS = ("name", "http")
HTTP_KEYS = ("url", "method", "expect_status", "timeout", "verify_tls")

STRATEGIES: tuple[Strategy, ...] = ("fail-fast", "continue")
CONDITIONS: tuple[Condition, ...] = ("always", "on_success", "on_failure")
_CONDITION: dict[str, Condition] = {c: c for c in CONDITIONS}

#: Bounds: generous, but a typo such as "300h" for "300s" is caught.
MAX_TASK_TIMEOUT_S = 24 * 3600.0
MAX_JOB_TIMEOUT_S = 7 * 24 * 3600.0
MAX_CHECK_TIMEOUT_S = 3600.0
MAX_DURING_INTERVAL_S = 3600.0
MIN_DURING_INTERVAL_S = 0.1
MAX_RETRIES = 25

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def read_job(path: str | Path, *, target: Target | None = None) -> JobPlan:
    """Load one job file; a LoadError with every problem otherwise.

    ``target`` (from the command line) replaces the file's target, which may
    then be left out; a target written in the file is still checked.
    """
    path = Path(path)
    shown = str(path)
    tree, problems = read_yaml(path, shown)
    if tree is None or problems:
        raise LoadError(problems)
    return translate_job(tree, shown, default_name=default_job_name(path), target=target)


def default_job_name(path: Path) -> str:
    """The job name from its file name: ``deploy-nginx.yaml`` -> ``deploy-nginx``."""
    name = _UNSAFE_NAME.sub("-", path.stem).strip("-._")[:128]
    return name or "job"


def translate_job(
    doc: YValue, shown: str, *, default_name: str = "job", target: Target | None = None
) -> JobPlan:
    """A parsed job document -> JobPlan; raises one LoadError with every problem."""
    return _JobReader(shown, target).read(doc, default_name)


@dataclasses.dataclass
class _PhaseOptions:
    name: str | None
    condition: Condition | None
    concurrency: Concurrency | None = None
    tolerate_failures: FailureBudget | None = None
    checks: Checks = dataclasses.field(default_factory=Checks)

    def phase(self, index: int, kind: PhaseKind, tasks: list[Task], where: Location) -> Phase:
        return Phase(
            index=index,
            kind=kind,
            name=self.name,
            tasks=tasks,
            condition=self.condition,
            concurrency=self.concurrency,
            tolerate_failures=self.tolerate_failures,
            checks=self.checks,
            loc=where,
        )


class _JobReader:
    def __init__(self, shown: str, target: Target | None) -> None:
        self.shown = shown
        self.override = target
        self.problems = Problems()

    # ------------------------------------------------------------------ job
    def read(self, doc: YValue, default_name: str) -> JobPlan:
        top = expect_map(
            doc,
            "a job file",
            self.problems,
            "a job is a mapping with target, tasks and optional name, strategy, timeout, checks",
        )
        if top is None:
            raise LoadError(self.problems.items)
        check_keys(
            top,
            JOB_KEYS,
            "the job",
            self.problems,
            extensions=True,
            hints={
                "steps": "phases are listed under tasks:",
                "phases": "phases are listed under tasks:",
                "hosts": 'the nodes are chosen with target: (e.g. target: "group:web")',
                "nodes": "nodes are listed in an inventory file: pass it with --inventory",
            },
        )
        name = default_name
        if (value := top.get("name")) is not None:
            text = expect_str(value, "name", self.problems)
            if text is not None and not NAME_PATTERN.match(text):
                self.problems.add(
                    value.pos, "bad-name", f'job name "{text}" is not valid', NAME_RULE
                )
            elif text is not None:
                name = text
        description = ""
        if (value := top.get("description")) is not None:
            description = expect_str(value, "description", self.problems) or ""
        target = self.target(top)
        strategy: Strategy = "fail-fast"
        if (value := top.get("strategy")) is not None:
            choice = expect_choice(value, "strategy", STRATEGIES, self.problems)
            strategy = "continue" if choice == "continue" else "fail-fast"
        timeout = None
        if (value := top.get("timeout")) is not None:
            timeout = expect_duration(
                value, "job timeout", self.problems, longest=MAX_JOB_TIMEOUT_S
            )
        checks = self.checks(top.get("checks"))
        phases = self.phases(top)
        if self.problems or target is None:
            raise LoadError(self.problems.items)
        return JobPlan(
            name=name,
            description=description,
            source=self.shown,
            target=target,
            strategy=strategy,
            timeout_s=timeout,
            checks=checks,
            phases=phases,
        )

    def target(self, top: YMap) -> Target | None:
        value = top.get("target")
        if value is None and self.override is not None:
            return self.override
        if value is None:
            self.problems.add(
                top.pos,
                "missing-target",
                "the job has no target",
                'add target: { scope: group, value: web } (or target: "all"), '
                "or give one on the command line with -t",
            )
            return None
        written = read_target(value, self.problems)
        return self.override or written

    # --------------------------------------------------------------- phases
    def phases(self, top: YMap) -> list[Phase]:
        value = top.get("tasks")
        if value is None:
            self.problems.add(
                top.pos,
                "missing-tasks",
                "the job has no tasks",
                "add tasks: a list of tasks (backend, action, params) and pipelines (tasks: [...])",
            )
            return []
        items = expect_list(
            value,
            "tasks",
            self.problems,
            "write each phase as a list item: - { backend: ..., action: ... }",
        )
        if items is None:
            return []
        if not items.items:
            self.problems.add(items.pos, "empty-tasks", "the job's task list is empty", _ADD_TASKS)
        phases: list[Phase] = []
        for index, item in enumerate(items.items):
            phase = self.phase(item, index)
            if phase is not None:
                phases.append(phase)
        return phases

    def phase(self, item: YValue, index: int) -> Phase | None:
        if isinstance(item, YSeq):
            self.problems.add(
                item.pos,
                "bad-phase",
                "a list inside tasks is not a phase",
                "write a pipeline as a mapping: - tasks: [ ... ]",
            )
            return None
        mapping = expect_map(item, "each item of tasks", self.problems, _ITEM_HINT)
        if mapping is None:
            return None
        if "tasks" in mapping:
            return self.pipeline(mapping, index)
        return self.barrier(mapping, index)

    def pipeline(self, m: YMap, index: int) -> Phase | None:
        # backend/action/params beside tasks: the user mixed a task into the phase.
        hints = dict.fromkeys(("backend", "action", "params"), _BOTH)
        hints.update(dict.fromkeys(("timeout", "max_retries"), _PER_TASK))
        before = len(self.problems)
        check_keys(m, PIPELINE_KEYS, "a pipeline", self.problems, hints=hints)
        options = self.phase_options(m)
        items = expect_list(m.entries["tasks"].value, "a pipeline's tasks", self.problems)
        tasks: list[Task] = []
        if items is not None:
            if not items.items:
                self.problems.add(
                    items.pos, "empty-tasks", "this pipeline has no tasks", _ADD_TASKS
                )
            for sub, sub_item in enumerate(items.items):
                task = self.pipeline_task(sub_item, f"{index}.{sub}")
                if task is not None:
                    tasks.append(task)
        if len(self.problems) > before:
            return None
        return options.phase(index, "pipeline", tasks, loc(m.pos))

    def pipeline_task(self, item: YValue, key: str) -> Task | None:
        mapping = expect_map(item, "each task of a pipeline", self.problems, _TASK_HINT)
        if mapping is None:
            return None
        if "tasks" in mapping:
            self.problems.add(
                mapping.key_pos("tasks"),
                "nested-pipeline",
                "a pipeline cannot contain another pipeline",
                "list these tasks directly in the outer pipeline, or make them a phase of "
                "their own",
            )
            return None
        phase_only = {
            k: "set it on the pipeline (the phase), not on one of its tasks"
            for k in PHASE_KEYS
            if k not in TASK_KEYS
        }
        self.check_task_keys(mapping, TASK_KEYS, "a pipeline task", phase_only)
        return self.task(mapping, key, with_condition=True)

    def barrier(self, m: YMap, index: int) -> Phase | None:
        before = len(self.problems)
        self.check_task_keys(m, BARRIER_KEYS, "a task", {})
        options = self.phase_options(m)
        task = self.task(m, str(index), with_condition=False)
        if task is None or len(self.problems) > before:
            return None
        return options.phase(index, "barrier", [task], loc(m.pos))

    def phase_options(self, m: YMap) -> _PhaseOptions:
        """The keys every phase may set; bad values are reported and left at defaults."""
        options = _PhaseOptions(name=self.optional_name(m), condition=self.condition(m))
        if (value := m.get("concurrency")) is not None:
            options.concurrency = expect_concurrency(value, self.problems)
        if (value := m.get("tolerate_failures")) is not None:
            options.tolerate_failures = expect_failure_budget(value, self.problems)
        options.checks = self.checks(m.get("checks"))
        return options

    # ----------------------------------------------------------------- tasks
    def check_task_keys(
        self, m: YMap, allowed: tuple[str, ...], where: str, hints: dict[str, str]
    ) -> None:
        """Unknown keys; a parameter written beside params gets a precise hint."""
        hints = dict(hints)
        backend = m.get("backend")
        action = m.get("action")
        if isinstance(backend, YScalar) and isinstance(action, YScalar):
            spec = get_action(str(backend.value), str(action.value))
            for name in param_names(spec) if spec else []:
                hints.setdefault(name, f"parameters go under params: params: {{ {name}: ... }}")
        check_keys(m, allowed, where, self.problems, hints=hints)

    def task(self, m: YMap, key: str, *, with_condition: bool) -> Task | None:
        before = len(self.problems)
        action = read_action(m, "a task", self.problems)
        name = self.optional_name(m)
        timeout = None
        if (value := m.get("timeout")) is not None:
            timeout = expect_duration(value, "timeout", self.problems, longest=MAX_TASK_TIMEOUT_S)
        retries = 0
        if (value := m.get("max_retries")) is not None:
            retries = expect_int(value, "max_retries", self.problems, lo=0, hi=MAX_RETRIES) or 0
        condition = self.condition(m) if with_condition else None
        if action is None or len(self.problems) > before:
            return None
        extra = {"timeout_s": timeout} if timeout is not None else {}
        return Task(
            key=key,
            name=name,
            backend=action.spec.backend,
            action=action.spec.action,
            params=action.params,
            max_retries=retries,
            condition=condition,
            loc=loc(m.pos),
            **extra,
        )

    def condition(self, m: YMap) -> Condition | None:
        value = m.get("condition")
        if value is None or (isinstance(value, YScalar) and value.value in (None, "")):
            return None  # "" is GRID's zero value: its API clients send it
        choice = expect_choice(value, "condition", CONDITIONS, self.problems)
        return _CONDITION.get(choice or "")

    def optional_name(self, m: YMap) -> str | None:
        value = m.get("name")
        if value is None:
            return None
        return expect_str(value, "name", self.problems)

    # ---------------------------------------------------------------- checks
    def checks(self, value: YValue | None) -> Checks:
        if value is None or (isinstance(value, YScalar) and value.value is None):
            return Checks()
        m = expect_map(value, "checks", self.problems, "write checks: { pre: [...], post: [...] }")
        if m is None:
            return Checks()
        check_keys(m, CHECKS_KEYS, "checks", self.problems)
        pre = self.check_list(m.get("pre"), "checks.pre")
        post = self.check_list(m.get("post"), "checks.post")
        during: list[Check] = []
        interval = DEFAULT_DURING_INTERVAL_S
        if (raw := m.get("during")) is not None:
            if isinstance(raw, YMap):
                check_keys(raw, DURING_KEYS, "checks.during", self.problems)
                if (iv := raw.get("interval")) is not None:
                    interval = self.interval(iv) or DEFAULT_DURING_INTERVAL_S
                if raw.get("checks") is None:
                    self.problems.add(
                        raw.pos,
                        "missing-checks",
                        "checks.during has no checks",
                        "write during: { interval: 10s, checks: [ ... ] }",
                    )
                during = self.check_list(raw.get("checks"), "checks.during.checks")
            else:
                during = self.check_list(raw, "checks.during")
        return Checks(pre=pre, post=post, during=during, during_interval_s=interval)

    def interval(self, value: YValue) -> float | None:
        seconds = expect_duration(
            value, "checks.during.interval", self.problems, longest=MAX_DURING_INTERVAL_S
        )
        if seconds is not None and seconds < MIN_DURING_INTERVAL_S:
            self.problems.add(
                value.pos,
                "bad-duration",
                "checks.during.interval must be at least 100ms",
                "checks that run more often would load the nodes they check",
            )
            return None
        return seconds

    def check_list(self, value: YValue | None, what: str) -> list[Check]:
        if value is None or (isinstance(value, YScalar) and value.value is None):
            return []
        items = expect_list(value, what, self.problems, _CHECK_HINT)
        if items is None:
            return []
        out: list[Check] = []
        for item in items.items:
            check = self.check(item, what)
            if check is not None:
                out.append(check)
        return out

    def check(self, item: YValue, what: str) -> Check | None:
        m = expect_map(item, f"each item of {what}", self.problems, _CHECK_HINT)
        if m is None:
            return None
        if "http" in m:
            check_keys(m, HTTP_CHECK_KEYS, "an HTTP check", self.problems)
            return self.http_check(m)
        check_keys(m, BACKEND_CHECK_KEYS, "a check", self.problems)
        before = len(self.problems)
        action = read_action(m, "a check", self.problems)
        name = self.optional_name(m)
        timeout = None
        if (value := m.get("timeout")) is not None:
            timeout = expect_duration(
                value, "check timeout", self.problems, longest=MAX_CHECK_TIMEOUT_S
            )
        if action is None or len(self.problems) > before:
            return None
        if not action.spec.read_only:
            self.not_read_only(m, action)
            return None
        extra = {"timeout_s": timeout} if timeout is not None else {}
        return BackendCheck(
            name=name,
            backend=action.spec.backend,
            action=action.spec.action,
            params=action.params,
            loc=loc(m.pos),
            **extra,
        )

    def not_read_only(self, m: YMap, action: Action) -> None:
        backend = action.spec.backend
        same = [
            f"{backend}.{name}"
            for name in action_names(backend)
            if (spec := get_action(backend, name)) is not None and spec.read_only
        ]
        hint = (
            f"checks must not change the node: use {', '.join(same)}, or make it a task"
            if same
            else "checks must not change the node: make it a task"
        )
        self.problems.add(
            m.key_pos("action"),
            "check-not-read-only",
            f'action "{action.ref}" changes the node and cannot be a check',
            hint,
        )

    def http_check(self, m: YMap) -> HttpCheck | None:
        before = len(self.problems)
        name = self.optional_name(m)
        spec = expect_map(
            m.entries["http"].value,
            "http",
            self.problems,
            "write http: { url: http://..., expect_status: 200 }",
        )
        if spec is None:
            return None
        check_keys(spec, HTTP_KEYS, "an HTTP check", self.problems)
        url = None
        if (value := spec.get("url")) is None:
            self.problems.add(
                spec.pos, "missing-url", "an HTTP check needs a url", "add url: http://..."
            )
        else:
            url = expect_str(value, "url", self.problems)
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    self.problems.add(
                        value.pos,
                        "bad-url",
                        f'"{url}" is not an http:// or https:// URL',
                        "write the whole address, e.g. http://127.0.0.1:8080/healthz",
                    )
        extra: dict[str, object] = {}
        if (value := spec.get("method")) is not None:
            extra["method"] = expect_choice(value, "method", ("GET", "HEAD"), self.problems)
        if isinstance(value := spec.get("expect_status"), YMap):
            self.problems.add(
                value.pos,
                "bad-status",
                "expect_status must be a status or a list of them, got a mapping",
                'write a code (200), a class ("2xx"), a range ("200-299") or a list of those',
            )
        elif value is not None:
            try:
                extra["expect_status"] = StatusSet.parse(plain(value)).to_json()
            except ValueError as exc:
                self.problems.add(value.pos, "bad-status", f"expect_status: {exc}")
        if (value := spec.get("timeout")) is not None:
            extra["timeout_s"] = expect_duration(
                value, "check timeout", self.problems, longest=MAX_CHECK_TIMEOUT_S
            )
        if (value := spec.get("verify_tls")) is not None:
            extra["verify_tls"] = expect_bool(value, "verify_tls", self.problems)
        if url is None or len(self.problems) > before:
            return None
        return HttpCheck.model_validate({"name": name, "url": url, "loc": loc(m.pos), **extra})


_ADD_TASKS = "add at least one task: - { backend: ping, action: echo, params: { message: hi } }"
_ITEM_HINT = "each item is a task (backend, action, params) or a pipeline (tasks: [ ... ])"
_TASK_HINT = "write a task as { backend: ..., action: ..., params: { ... } }"
_CHECK_HINT = (
    "a check is a read-only action { backend, action, params } or an HTTP probe "
    "{ http: { url, expect_status } }"
)
_PER_TASK = "set it on each task of the pipeline: a pipeline's tasks have their own"
_BOTH = (
    "an item is a task (backend, action, params) or a pipeline (tasks: [...]), not both: "
    "move this into one of the pipeline's tasks"
)
