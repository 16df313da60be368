"""Airflow DAG fleet_greetings_compiled, compiled by gridflow from grid
fleet_greetings (fleet_greetings.hcl).

Generated file, do not edit: change the grid and compile it again (gridflow
compile dags_examples/airflow/fleet_greetings.hcl --to airflow --dag-id
fleet_greetings_compiled -o dags_examples/airflow/compiled_fleet_greetings.py).

The grid's Plan is embedded below (PLAN_JSON) without the defaults of sensitive
variables: give those in the run's conf or as GRIDFLOW_VAR_<name> on the
workers. No grid file is read at run time.
"""

from airflow.sdk import DAG, Param, task_group
from gridflow.operators.grid import GridInstancesOperator, GridStepOperator
from gridflow.plan import LazyPlan

PLAN_JSON = r"""{
  "version": 1,
  "name": "fleet_greetings",
  "kind": "grid",
  "sources": [
    "dags_examples/airflow/fleet_greetings.hcl"
  ],
  "variables": {
    "team": {
      "name": "team",
      "type": {
        "kind": "list",
        "elem": {
          "kind": "string",
          "elem": null,
          "items": [],
          "fields": {},
          "optional": []
        },
        "items": [],
        "fields": {},
        "optional": []
      },
      "default": [
        "ada",
        "grace",
        "linus"
      ],
      "has_default": true,
      "sensitive": false,
      "description": "",
      "loc": {
        "file": "dags_examples/airflow/fleet_greetings.hcl",
        "line": 5,
        "col": 1
      }
    }
  },
  "locals": {},
  "resources": {},
  "steps": {
    "print.greet": {
      "id": "print.greet",
      "runner": "print",
      "name": "greet",
      "loc": {
        "file": "dags_examples/airflow/fleet_greetings.hcl",
        "line": 10,
        "col": 1
      },
      "arguments": {
        "input": {
          "text": "\"hello ${each.key}\"",
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 12,
            "col": 15
          },
          "tree": [
            "tpl",
            {
              "~": [
                [
                  "lit",
                  "hello ",
                  12,
                  24
                ],
                [
                  "attr",
                  [
                    "var",
                    "each",
                    12,
                    32
                  ],
                  "key",
                  12,
                  32
                ]
              ]
            },
            12,
            23
          ]
        }
      },
      "fan_out": {
        "kind": "for_each",
        "expr": {
          "text": "toset(var.team)",
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 11,
            "col": 3
          },
          "tree": [
            "call",
            "toset",
            {
              "~": [
                [
                  "attr",
                  [
                    "var",
                    "var",
                    11,
                    20
                  ],
                  "team",
                  11,
                  20
                ]
              ]
            },
            false,
            11,
            14
          ]
        },
        "dynamic": false
      },
      "each_of": null,
      "edges": [],
      "uses": {},
      "retry": {
        "attempts": 1,
        "delay_s": 0.0,
        "backoff": "fixed",
        "max_delay_s": null
      },
      "timeout_s": null,
      "delay_before_s": 0.0,
      "delay_after_s": 0.0,
      "concurrency_limit": null,
      "if": null,
      "abort_if_false": false,
      "continue_on_error": false,
      "sensitive": false,
      "load": {
        "mode": "auto",
        "rate_per_s": null,
        "duration_s": null,
        "shards": 1,
        "processes": 1,
        "thresholds": [],
        "abort_on_fail": false
      }
    },
    "print.shout": {
      "id": "print.shout",
      "runner": "print",
      "name": "shout",
      "loc": {
        "file": "dags_examples/airflow/fleet_greetings.hcl",
        "line": 15,
        "col": 1
      },
      "arguments": {
        "input": {
          "text": "upper(print.greet[each].output)",
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 16,
            "col": 15
          },
          "tree": [
            "call",
            "upper",
            {
              "~": [
                [
                  "attr",
                  [
                    "eachref",
                    "print.greet",
                    16,
                    29
                  ],
                  "output",
                  16,
                  29
                ]
              ]
            },
            false,
            16,
            23
          ]
        }
      },
      "fan_out": null,
      "each_of": "print.greet",
      "edges": [
        {
          "upstream": "print.greet",
          "pattern": "each",
          "index": null,
          "explicit": false,
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 16,
            "col": 29
          }
        }
      ],
      "uses": {},
      "retry": {
        "attempts": 1,
        "delay_s": 0.0,
        "backoff": "fixed",
        "max_delay_s": null
      },
      "timeout_s": null,
      "delay_before_s": 0.0,
      "delay_after_s": 0.0,
      "concurrency_limit": null,
      "if": null,
      "abort_if_false": false,
      "continue_on_error": false,
      "sensitive": false,
      "load": {
        "mode": "auto",
        "rate_per_s": null,
        "duration_s": null,
        "shards": 1,
        "processes": 1,
        "thresholds": [],
        "abort_on_fail": false
      }
    },
    "print.summary": {
      "id": "print.summary",
      "runner": "print",
      "name": "summary",
      "loc": {
        "file": "dags_examples/airflow/fleet_greetings.hcl",
        "line": 19,
        "col": 1
      },
      "arguments": {
        "input": {
          "text": "\"${length(print.shout.output)} greetings: ${join(\", \", print.shout.output)}\"",
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 20,
            "col": 15
          },
          "tree": [
            "tpl",
            {
              "~": [
                [
                  "call",
                  "length",
                  {
                    "~": [
                      [
                        "attr",
                        [
                          "stepref",
                          "print.shout",
                          20,
                          33
                        ],
                        "output",
                        20,
                        33
                      ]
                    ]
                  },
                  false,
                  20,
                  26
                ],
                [
                  "lit",
                  " greetings: ",
                  20,
                  53
                ],
                [
                  "call",
                  "join",
                  {
                    "~": [
                      [
                        "lit",
                        ", ",
                        20,
                        72
                      ],
                      [
                        "attr",
                        [
                          "stepref",
                          "print.shout",
                          20,
                          78
                        ],
                        "output",
                        20,
                        78
                      ]
                    ]
                  },
                  false,
                  20,
                  67
                ]
              ]
            },
            20,
            23
          ]
        }
      },
      "fan_out": null,
      "each_of": null,
      "edges": [
        {
          "upstream": "print.shout",
          "pattern": "all",
          "index": null,
          "explicit": false,
          "loc": {
            "file": "dags_examples/airflow/fleet_greetings.hcl",
            "line": 20,
            "col": 33
          }
        }
      ],
      "uses": {},
      "retry": {
        "attempts": 1,
        "delay_s": 0.0,
        "backoff": "fixed",
        "max_delay_s": null
      },
      "timeout_s": null,
      "delay_before_s": 0.0,
      "delay_after_s": 0.0,
      "concurrency_limit": null,
      "if": null,
      "abort_if_false": false,
      "continue_on_error": false,
      "sensitive": false,
      "load": {
        "mode": "auto",
        "rate_per_s": null,
        "duration_s": null,
        "shards": 1,
        "processes": 1,
        "thresholds": [],
        "abort_on_fail": false
      }
    }
  }
}
"""
PLAN = LazyPlan(PLAN_JSON)

with DAG(
    dag_id="fleet_greetings_compiled",
    description="gridflow grid fleet_greetings",
    schedule=None,
    catchup=False,
    fail_fast=True,
    params={
        "team": Param(
            ["ada", "grace", "linus"],
            type="array",
            items={"type": "string"},
        ),
    },
    tags=["gridflow"],
) as dag:
    print_greet_instances = GridInstancesOperator(
        task_id="print.greet.instances",
        step_id="print.greet",
        plan=PLAN,
        trigger_rule="all_done_setup_success",
        doc="Counts the instances of print.greet (dags_examples/airflow/fleet_greetings.hcl:10:1).",
    )

    @task_group(group_id="print__greet")
    def print_greet_group(position):
        print_greet = GridStepOperator(
            task_id="print.greet",
            step_id="print.greet",
            plan=PLAN,
            position=position,
            trigger_rule="all_done_setup_success",
            retries=0,
            doc="step 'print' 'greet' (dags_examples/airflow/fleet_greetings.hcl:10:1)",
        )
        print_shout = GridStepOperator(
            task_id="print.shout",
            step_id="print.shout",
            plan=PLAN,
            position=position,
            trigger_rule="all_done_setup_success",
            retries=0,
            doc="step 'print' 'shout' (dags_examples/airflow/fleet_greetings.hcl:15:1)",
        )
        print_greet >> print_shout

    print_greet_group.expand(position=print_greet_instances.output)

    print_summary = GridStepOperator(
        task_id="print.summary",
        step_id="print.summary",
        plan=PLAN,
        trigger_rule="all_done_setup_success",
        retries=0,
        doc="step 'print' 'summary' (dags_examples/airflow/fleet_greetings.hcl:19:1)",
    )

    # Dependencies (besides the mapping over instances tasks).
    print_shout = dag.get_task("print__greet.print.shout")
    print_shout >> print_summary
