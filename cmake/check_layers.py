# SPDX-License-Identifier: MIT
"""Dependencies point downward only: a header in layer L (include/pdml/<L>/ or
cuda/pdml/cuda/<L>/, detail/ folders included) may reach, through any chain of pdml
includes, only headers of layers at or below L. Headers outside the layer folders (the
flat CUDA entry points and their detail/ algorithms, pdml/config.hpp, the umbrellas) get
the highest layer they reach, so a chain through them is checked too.

Usage: check_layers.py ROOT. Prints every violation with its include chain; exits 1 if
there is one. check_layers.py --self-test: checks that a planted upward include, direct
and through a flat header, is caught."""

import re
import sys
from pathlib import Path

# The order of docs/design: core -> math -> random -> distributions -> similarities ->
# losses -> evaluation; the CUDA tree's parallel/ sits with core (no math in it),
# distributed/ (communicator adapters) with the losses that use them.
LAYERS = ["core", "parallel", "math", "random", "distributions", "similarities",
          "losses", "distributed", "evaluation"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](pdml/[^>"]+)[>"]', re.MULTILINE)


def main(root: Path) -> int:
    search = [root / "include", root / "cuda", root / "mpi"]
    files = {}
    for base in search:
        for path in base.rglob("*"):
            if path.suffix in (".hpp", ".cuh") and "tests" not in path.parts:
                files[path.relative_to(base).as_posix()] = path

    def own_layer(name):
        parts = name.split("/")
        rest = parts[2:] if parts[:2] == ["pdml", "cuda"] else parts[1:]
        return RANK.get(rest[0]) if len(rest) > 1 else None

    includes = {name: [m for m in INCLUDE.findall(path.read_text(encoding="utf-8"))
                       if m in files]
                for name, path in files.items()}

    # reach[name] = (highest layer rank reached, chain to a header of that layer)
    reach = {}

    def visit(name, stack):
        if name in reach:
            return reach[name]
        if name in stack:
            return (-1, [name])
        stack.add(name)
        own = own_layer(name)
        best = (own if own is not None else -1, [name])
        for included in includes[name]:
            rank, chain = visit(included, stack)
            if rank > best[0]:
                best = (rank, [name] + chain)
        stack.discard(name)
        reach[name] = best
        return best

    violations = 0
    for name in sorted(files):
        own = own_layer(name)
        if own is None:
            continue
        rank, chain = visit(name, set())
        if rank > own:
            violations += 1
            print(f"{name} (layer {LAYERS[own]}) reaches layer {LAYERS[rank]}: "
                  + " -> ".join(chain))
    checked = sum(1 for name in files if own_layer(name) is not None)
    print(f"{checked} layered headers checked, {violations} upward dependencies")
    return 1 if violations else 0


def self_test() -> int:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        def write(name, *included):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f'#include "{i}"\n' for i in included))
        write("include/pdml/losses/loss.hpp")
        write("include/pdml/math/ok.hpp")
        write("include/pdml/similarities/sim.hpp", "pdml/math/ok.hpp")
        if main(root) != 0:
            print("self-test: a clean tree was rejected")
            return 1
        write("cuda/pdml/cuda/detail/flat.hpp", "pdml/losses/loss.hpp")
        write("cuda/pdml/cuda/math/rows.hpp", "pdml/cuda/detail/flat.hpp")
        if main(root) != 1:
            print("self-test: an upward include through a flat header was missed")
            return 1
    print("self-test passed")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main(Path(sys.argv[1])))
