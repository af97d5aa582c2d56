"""List modules over 450 lines and functions over 60 lines in src/ (the size rules)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE, MAX_FUNCTION = 450, 60


def main(root: str = "src") -> int:
    found = 0
    for path in sorted(Path(root).rglob("*.py")):
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE:
            print(f"{path}: {lines} lines")
            found += 1
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    print(f"{path}:{node.lineno} {node.name}: {length} lines")
                    found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
