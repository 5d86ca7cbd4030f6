"""The shape every stage shares, checked on the source tree itself (no imports needed):

- each stage package has config.py, result.py, stage.py, tasks.py and an `__init__` that
  exports its front;
- the Prefect tasks live only in the stages' tasks.py files, one home per stage operation;
- no module of a stage after scrub (nor the flows of those stages) opens the raw store;
- no import cycle among slimline's modules, at module level or inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"slimline": REPO / "slimline", "slimline.tasks": REPO / "tasks",
         "slimline.flows": REPO / "flows"}  # fmt: skip
STAGES = ("collect", "scrub", "cluster", "select", "train", "evaluate", "promote", "report",
          "nightly", "serve")  # fmt: skip
AFTER_SCRUB = STAGES[2:]
RAW_NAMES = {"open_raw", "RawStore", "raw_store_url"}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == "slimline" and "migrations" in parts:
                continue
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """slimline modules `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [n for n in subs if n in MODULES] or [node.module]
        else:
            continue
        found |= {n for n in names if n in MODULES}
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_the_same_front(stage):
    folder = REPO / "tasks" / stage
    for name in ("__init__.py", "config.py", "result.py", "stage.py", "tasks.py"):
        assert (folder / name).is_file(), f"tasks/{stage}/{name} is missing"
    init = ast.parse((folder / "__init__.py").read_text())
    exported = next(
        ast.literal_eval(n.value)
        for n in init.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
    )
    if stage != "nightly":  # the night's bookkeeping: open, plan and close, no run_ of its own
        assert any(name.startswith("run_") for name in exported), stage
    assert any(name.endswith("_task") for name in exported), stage
    assert any(name.endswith("Config") for name in exported), stage


def test_prefect_tasks_live_only_in_the_stages_tasks_modules():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        makes_tasks = any(
            isinstance(n, ast.ImportFrom) and n.module == "prefect" and
            any(a.name == "task" for a in n.names)
            for n in ast.walk(tree)
        )  # fmt: skip
        if makes_tasks:
            assert path.name == "tasks.py" and path.parent.parent == REPO / "tasks", name


@pytest.mark.parametrize("stage", AFTER_SCRUB)
def test_no_stage_after_scrub_opens_the_raw_store(stage):
    paths = list((REPO / "tasks" / stage).rglob("*.py"))
    flow = REPO / "flows" / f"{stage}.py"
    paths += [flow] if flow.is_file() else []
    for path in paths:
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 for a in n.names}  # fmt: skip
        assert not used & RAW_NAMES, f"{path.relative_to(REPO)} uses {used & RAW_NAMES}"


def test_no_import_cycles():
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    # a package importing its own submodules (its __init__ re-exporting them) is no cycle
    graph = {
        name: {d for d in deps if not (d.startswith(name + ".") and MODULES[name].name ==
                                        "__init__.py")}
        for name, deps in graph.items()
    }  # fmt: skip
    cycles = []

    def visit(node: str, trail: list[str], done: set[str]) -> None:
        for dep in sorted(graph[node]):
            if dep in trail:
                cycles.append([*trail[trail.index(dep) :], dep])
            elif dep not in done:
                visit(dep, [*trail, dep], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
