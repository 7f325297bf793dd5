"""The evaluation harness: every model card's numbers come from here.

- `evaluate(model_path, task, budget)`: one model folder on one named task -> `EvalRecord` (JSON).
- `compare(design, stock, task, budget)`: both fine-tuned under the same budget for every seed, statistics over
  seeds and held-out items, JSON + PNG + markdown; resumable per seed.
- `TASKS` / `get_task` / `get_tasks` / `tasks_for`: the task registry; `BUDGETS` / `get_budget`: named budgets.
- `search.search(design, stock, task, budget, grid)`: each side's settings chosen on the validation split by a
  declared grid, then one `compare` on the test split (not re-exported here: it would hide its module).
- `update_card(card, name, markdown)`, `write_leaderboard(results_dir, output)`.

See `hf_archs/evaluation/README.md`.
"""

from .budgets import BUDGETS, Budget, get_budget
from .cards import CardMarkerError, update_card
from .harness import Comparison, compare, evaluate
from .leaderboard import leaderboard_markdown, write_leaderboard
from .records import EvalRecord
from .stats import Interval, MetricComparison, compare_metric, paired_bootstrap, t_interval
from .tasks import TASKS, Task, TaskResult, get_task, get_tasks, register_task, tasks_for


__all__ = [
    "BUDGETS",
    "Budget",
    "CardMarkerError",
    "Comparison",
    "EvalRecord",
    "Interval",
    "MetricComparison",
    "TASKS",
    "Task",
    "TaskResult",
    "compare",
    "compare_metric",
    "evaluate",
    "get_budget",
    "get_task",
    "get_tasks",
    "leaderboard_markdown",
    "paired_bootstrap",
    "register_task",
    "t_interval",
    "tasks_for",
    "update_card",
    "write_leaderboard",
]
