"""Generate the Python modules for every .proto file under guardian/contracts.

    python -m guardian.contracts.generate            # write next to the .proto files
    python -m guardian.contracts.generate --out DIR  # write into DIR (the staleness test does this)

Needs the ``dev`` extra (grpcio-tools, pinned so the output is reproducible).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parent
ROOT = CONTRACTS.parent.parent


def proto_files() -> list[Path]:
    return sorted(CONTRACTS.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    files = [str(p.relative_to(ROOT)) for p in proto_files()]
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {files}")
    return generated_files(out_dir / CONTRACTS.relative_to(ROOT))


def generated_files(contracts_dir: Path) -> list[Path]:
    """The generated modules and stubs below ``contracts_dir`` (bytecode caches excluded)."""
    return sorted(
        p for p in contracts_dir.rglob("*_pb2*") if p.suffix in {".py", ".pyi"} and "__pycache__" not in p.parts
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
