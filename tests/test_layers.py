"""Imports only go down the layers (README, Architecture): a lower layer never imports a
higher one, and layers of one rank (evaluation and inference) never import each other."""

import ast
from pathlib import Path

import fracture

PACKAGE = Path(fracture.__file__).parent
# Bottom to top. A module may import its own layer and the layers of lower ranks.
LAYERS = [
    ["errors"],
    ["labels", "spreadsheet", "lightning_compat", "config", "config_checks", "logs", "figures"],
    ["rank_failures", "synth"],
    ["data"],
    ["models"],
    ["run_files", "prediction_table"],
    ["trained"],
    ["evaluation", "inference"],
    ["callbacks", "frozen_random", "tensorboard", "run_summary", "resume"],
    ["train"],
    ["compare", "audit", "serve", "bench", "deploy"],
    ["console"],
]
RANK = {layer: rank for rank, layers in enumerate(LAYERS) for layer in layers}
# Top-level modules that belong to a layer of another name.
ALIASES = {"compare_arguments": "compare", "compare_paired": "compare", "compare_runs": "compare"}


def layer_of(module: str) -> str:
    """``fracture.data.decode`` -> ``data``; ``fracture.compare_runs`` -> ``compare``."""
    name = module.split(".")[1]
    return ALIASES.get(name, name)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every ``fracture.*`` module the file imports, at any depth (inside functions and
    ``TYPE_CHECKING`` blocks too: a cycle there is still a cycle in the design)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from fracture.serve import api" may name a module: keep "fracture.serve.api",
            # which belongs to the same layer as "fracture.serve"; the cycle check resolves it.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("fracture.")]


def upward_imports(root: Path) -> list[str]:
    wrong = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        if relative.name == "__init__" and len(relative.parts) == 2:
            continue  # fracture/__init__.py: the version only
        source = layer_of(".".join(relative.parts))
        for line, module in imports(path):
            target = layer_of(module)
            if target == "__version__" or target == source:  # fracture.__version__
                continue
            found = f"{relative}.py:{line}: {source} imports {target}"
            if RANK[target] >= RANK[source] and found not in wrong:
                wrong.append(found)
    return wrong


def test_every_module_belongs_to_a_layer():
    names = {ALIASES.get(p.stem, p.stem) for p in PACKAGE.glob("*.py")} - {"__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert names - set(RANK) == set()


def test_imports_only_go_down():
    assert upward_imports(PACKAGE) == []


def test_the_rule_sees_an_upward_and_a_sideways_import(tmp_path):
    root = tmp_path / "fracture"
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.py").write_text("def f():\n    from fracture.train import train\n")
    (root / "evaluation").mkdir()
    (root / "evaluation" / "y.py").write_text("from fracture.inference.explain import explain\n")
    assert upward_imports(root) == [
        "fracture/data/x.py:2: data imports train",
        "fracture/evaluation/y.py:1: evaluation imports inference",
    ]


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among the package's modules (a package stands for its ``__init__``)."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(imported: str) -> str:  # "fracture.serve.create_app" -> "fracture.serve"
        return imported if imported in modules else imported.rpartition(".")[0]

    edges = {
        name: {resolve(m) for _, m in imports(path)} & modules.keys() - {name}
        for name, path in modules.items()
    }
    cycles, state = [], {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_module_imports_itself_around_a_cycle():
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_sees_a_type_checking_cycle(tmp_path):
    root = tmp_path / "fracture"
    root.mkdir()
    (root / "a.py").write_text("from fracture.b import g\n")
    (root / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fracture.a import f\n"
    )
    assert import_cycles(root) == [["fracture.a", "fracture.b", "fracture.a"]]
