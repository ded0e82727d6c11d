"""The house rules, checked: imports only run downward through the layers, no import cycles,
no source file over ~450 lines, and every benchmark script is in benchmarks/README.md."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "impasto"

#: The layers, bottom first: a module may import its own package and any lower layer, never a
#: package beside it or above it (imports inside functions count too).
LAYERS = (
    {"errors", "_version", "_lazy"},
    # progress events, device/precision policy and the cache, pixels, the built-in styles
    {"events", "runtime", "image", "styles"},
    {"features", "provenance"},  # VGG-19 and its facts; where inputs came from
    {"config", "losses"},  # options objects (checked once); loss math
    {"metrics"},
    {"optim", "models"},  # the optimisation engine; feed-forward networks and their store
    {"arbitrary", "result"},  # AdaIN / WCT; the one result type
    {"training", "pipeline", "export"},  # trainers; THE WAY IN; ONNX export of any model
    {"api"},  # Python conveniences over the pipeline
    {"video"},  # frames and video files with temporal consistency
    {"webcam"},  # the live camera window
    {"serve", "batch"},  # the job service and web page; batch work (local and Ray)
    {"cli"},  # the command line
    {"__init__", "__main__"},  # the public names; python -m impasto
)
MAX_LINES = 450


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0][:-3] if len(parts) == 1 else parts[0]


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["impasto", *parts])


def _imports(path: Path) -> set[str]:
    """The impasto modules ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "impasto":
                found |= {f"impasto.{a.name}" for a in node.names}
            elif node.module.startswith("impasto."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("impasto.")}
    return found


def _files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    layered = set().union(*LAYERS)
    assert {_package(p) for p in _files()} <= layered


def test_imports_only_run_downward() -> None:
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = []
    for path in _files():
        here = _package(path)
        for target in _imports(path):
            there = target.split(".")[1]
            if there != here and rank[there] >= rank[here]:
                upward.append(f"{path.relative_to(SRC)} imports {target}")
    assert not upward, upward


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    modules = {_module(p): p for p in _files()}
    for name, path in modules.items():
        for target in _imports(path):
            # "from impasto.x import y" may name a module y or a name in x.
            graph[name].add(target if target in modules else target.rsplit(".", 1)[0])
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt not in modules or nxt == node or node.startswith(nxt + "."):
                continue  # a package's own __init__ running for its submodule
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_no_source_file_is_a_god_file() -> None:
    long = {str(p.relative_to(SRC)): n for p in _files()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_every_benchmark_script_is_documented() -> None:
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    scripts = [p.name for p in (ROOT / "benchmarks").glob("*.py")
               if not p.name.startswith("_")]
    assert scripts and not [s for s in scripts if s not in readme]
