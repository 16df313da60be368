"""Airflow DAG rolling_nginx_deploy, compiled by gridflow from job
rolling-nginx-deploy (rolling_nginx_deploy.yaml).

Generated file, do not edit: change the job and compile it again (gridflow
compile dags_examples/jobs/rolling_nginx_deploy.yaml --to airflow -i
dags_examples/jobs/inventory.yaml -o
dags_examples/jobs/compiled_rolling_nginx_deploy.py).

It runs the job's plan (PLAN_JSON) on the 3 nodes its target (group:web)
selected when it was compiled (NODES). No job file is read at run time. How to
reach each node (its address, user, keys, password variable or conn_id) is read
by the tasks on the worker, from the inventory.yaml beside this file, else the
file GRIDFLOW_INVENTORY names; a node missing there fails the task.
"""

from datetime import timedelta

from airflow.sdk import DAG, task_group
from gridflow.jobs.inventory import inventory_beside
from gridflow.jobs.model import JobPlan
from gridflow.operators.job import (
    JobChecksOperator,
    JobNodeTaskOperator,
    JobResultOperator,
)

PLAN_JSON = r"""{
  "version": 1,
  "kind": "job",
  "name": "rolling-nginx-deploy",
  "description": "Install and start nginx on the web nodes one at a time; roll back on failure.",
  "source": "dags_examples/jobs/rolling_nginx_deploy.yaml",
  "target": {
    "scope": "group",
    "value": "web",
    "loc": {
      "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
      "line": 6,
      "col": 9
    }
  },
  "strategy": "fail-fast",
  "timeout_s": 1800.0,
  "backoff": {
    "initial_s": 1.0,
    "factor": 2.0,
    "max_s": 30.0
  },
  "checks": {
    "pre": [
      {
        "kind": "backend",
        "name": null,
        "backend": "ping",
        "action": "hostname",
        "params": {},
        "timeout_s": 10.0,
        "loc": {
          "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
          "line": 12,
          "col": 7
        }
      }
    ],
    "post": [],
    "during": [],
    "during_interval_s": 10.0
  },
  "phases": [
    {
      "index": 0,
      "kind": "pipeline",
      "name": "install and start nginx",
      "tasks": [
        {
          "key": "0.0",
          "name": null,
          "backend": "apt",
          "action": "update",
          "params": {},
          "timeout_s": 300.0,
          "max_retries": 2,
          "condition": null,
          "loc": {
            "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
            "line": 18,
            "col": 9
          }
        },
        {
          "key": "0.1",
          "name": null,
          "backend": "apt",
          "action": "install",
          "params": {
            "package": "nginx"
          },
          "timeout_s": 600.0,
          "max_retries": 0,
          "condition": null,
          "loc": {
            "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
            "line": 19,
            "col": 9
          }
        },
        {
          "key": "0.2",
          "name": null,
          "backend": "systemd",
          "action": "start",
          "params": {
            "unit": "nginx"
          },
          "timeout_s": 30.0,
          "max_retries": 0,
          "condition": null,
          "loc": {
            "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
            "line": 20,
            "col": 9
          }
        }
      ],
      "condition": null,
      "concurrency": {
        "kind": "count",
        "value": 1.0
      },
      "tolerate_failures": null,
      "checks": {
        "pre": [],
        "post": [
          {
            "kind": "backend",
            "name": null,
            "backend": "systemd",
            "action": "status",
            "params": {
              "unit": "nginx"
            },
            "timeout_s": 60.0,
            "loc": {
              "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
              "line": 23,
              "col": 11
            }
          }
        ],
        "during": [],
        "during_interval_s": 10.0
      },
      "loc": {
        "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
        "line": 15,
        "col": 5
      }
    },
    {
      "index": 1,
      "kind": "pipeline",
      "name": "rollback",
      "tasks": [
        {
          "key": "1.0",
          "name": null,
          "backend": "systemd",
          "action": "stop",
          "params": {
            "unit": "nginx"
          },
          "timeout_s": 300.0,
          "max_retries": 0,
          "condition": null,
          "loc": {
            "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
            "line": 28,
            "col": 9
          }
        },
        {
          "key": "1.1",
          "name": null,
          "backend": "apt",
          "action": "remove",
          "params": {
            "package": "nginx"
          },
          "timeout_s": 300.0,
          "max_retries": 0,
          "condition": "always",
          "loc": {
            "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
            "line": 29,
            "col": 9
          }
        }
      ],
      "condition": "on_failure",
      "concurrency": null,
      "tolerate_failures": null,
      "checks": {
        "pre": [],
        "post": [],
        "during": [],
        "during_interval_s": 10.0
      },
      "loc": {
        "file": "dags_examples/jobs/rolling_nginx_deploy.yaml",
        "line": 25,
        "col": 5
      }
    }
  ]
}
"""
PLAN = JobPlan.from_json(PLAN_JSON)
NODES = ["web-01", "web-02", "web-03"]
INVENTORY = inventory_beside(__file__)
RECORDS = [
    "job.pre_checks",
    "phase0_install_and_start_nginx.0.0.apt.update",
    "phase0_install_and_start_nginx.0.1.apt.install",
    "phase0_install_and_start_nginx.0.2.systemd.start",
    "0.post_checks",
    "phase1_rollback.1.0.systemd.stop",
    "phase1_rollback.1.1.apt.remove",
]

with DAG(
    dag_id="rolling_nginx_deploy",
    description="gridflow job rolling-nginx-deploy (group:web, strategy fail-fast)",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=1830),
    tags=["gridflow", "gridflow-job"],
) as dag:
    job_pre_checks = JobChecksOperator(
        task_id="job.pre_checks",
        scope=None,
        stage="pre",
        plan=PLAN,
        node_ids=NODES,
        inventory=INVENTORY,
        record_task_ids=RECORDS,
        trigger_rule="all_done",
        doc="The pre-checks of the job, on every node at once.",
        retries=0,
        execution_timeout=timedelta(seconds=40),
    )

    @task_group(group_id="phase0_install_and_start_nginx")
    def phase0_install_and_start_nginx(node):
        t_0_0_apt_update = JobNodeTaskOperator(
            task_id="0.0.apt.update",
            key="0.0",
            node=node,
            plan=PLAN,
            node_ids=NODES,
            inventory=INVENTORY,
            record_task_ids=RECORDS,
            trigger_rule="all_done",
            doc="0.0 apt update on one node, phase 0 (pipeline, install and start nginx) (dags_examples/jobs/rolling_nginx_deploy.yaml:18:9)",
            retries=2,
            retry_delay=timedelta(seconds=1),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(seconds=30),
            max_active_tis_per_dagrun=1,
            execution_timeout=timedelta(seconds=330),
        )
        t_0_1_apt_install = JobNodeTaskOperator(
            task_id="0.1.apt.install",
            key="0.1",
            node=node,
            plan=PLAN,
            node_ids=NODES,
            inventory=INVENTORY,
            record_task_ids=RECORDS,
            trigger_rule="all_done",
            doc="0.1 apt install on one node, phase 0 (pipeline, install and start nginx) (dags_examples/jobs/rolling_nginx_deploy.yaml:19:9)",
            retries=0,
            max_active_tis_per_dagrun=1,
            execution_timeout=timedelta(seconds=630),
        )
        t_0_2_systemd_start = JobNodeTaskOperator(
            task_id="0.2.systemd.start",
            key="0.2",
            node=node,
            plan=PLAN,
            node_ids=NODES,
            inventory=INVENTORY,
            record_task_ids=RECORDS,
            trigger_rule="all_done",
            doc="0.2 systemd start on one node, phase 0 (pipeline, install and start nginx) (dags_examples/jobs/rolling_nginx_deploy.yaml:20:9)",
            retries=0,
            max_active_tis_per_dagrun=1,
            execution_timeout=timedelta(seconds=60),
        )
        t_0_0_apt_update >> t_0_1_apt_install
        t_0_1_apt_install >> t_0_2_systemd_start

    phase0_install_and_start_nginx_nodes = phase0_install_and_start_nginx.expand(
        node=NODES,
    )

    t_0_post_checks = JobChecksOperator(
        task_id="0.post_checks",
        scope=0,
        stage="post",
        plan=PLAN,
        node_ids=NODES,
        inventory=INVENTORY,
        record_task_ids=RECORDS,
        trigger_rule="all_done",
        doc="The post-checks of phase 0, on every node at once.",
        retries=0,
        execution_timeout=timedelta(seconds=90),
    )

    @task_group(group_id="phase1_rollback")
    def phase1_rollback(node):
        t_1_0_systemd_stop = JobNodeTaskOperator(
            task_id="1.0.systemd.stop",
            key="1.0",
            node=node,
            plan=PLAN,
            node_ids=NODES,
            inventory=INVENTORY,
            record_task_ids=RECORDS,
            trigger_rule="all_done",
            doc="1.0 systemd stop on one node, phase 1 (pipeline, rollback) (dags_examples/jobs/rolling_nginx_deploy.yaml:28:9)",
            retries=0,
            execution_timeout=timedelta(seconds=330),
        )
        t_1_1_apt_remove = JobNodeTaskOperator(
            task_id="1.1.apt.remove",
            key="1.1",
            node=node,
            plan=PLAN,
            node_ids=NODES,
            inventory=INVENTORY,
            record_task_ids=RECORDS,
            trigger_rule="all_done",
            doc="1.1 apt remove on one node, phase 1 (pipeline, rollback) (dags_examples/jobs/rolling_nginx_deploy.yaml:29:9)",
            retries=0,
            execution_timeout=timedelta(seconds=330),
        )
        t_1_0_systemd_stop >> t_1_1_apt_remove

    phase1_rollback_nodes = phase1_rollback.expand(node=NODES)

    job_result = JobResultOperator(
        task_id="job.result",
        plan=PLAN,
        node_ids=NODES,
        inventory=INVENTORY,
        record_task_ids=RECORDS,
        trigger_rule="all_done",
        doc="The job's result document (XCom); fails when the job failed or was cancelled.",
        retries=0,
    )

    # Each stage waits for the one before it, whatever its state.
    job_pre_checks >> phase0_install_and_start_nginx_nodes
    phase0_install_and_start_nginx_nodes >> t_0_post_checks
    t_0_post_checks >> phase1_rollback_nodes
    phase1_rollback_nodes >> job_result
