"""The package as users get it: `python -m build --wheel`, installed from the built file into a
fresh virtualenv (its dependencies from the registry), importable, typed, and working against
the service; and mypy --strict passes on the source."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import Developer

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def run(*command: str | Path, cwd: Path = PACKAGE_ROOT, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, f"{command} failed ({completed.returncode}):\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    return completed.stdout


def test_the_built_wheel_installs_into_a_fresh_virtualenv_and_drives_the_service(tmp_path: Path, developer: Developer, base_url: str) -> None:
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist")
    [wheel] = (tmp_path / "dist").glob("*.whl")
    assert wheel.name == "fma_serverless_client-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read("fma_serverless_client-0.1.0.dist-info/METADATA").decode()
    assert {"fma_serverless/py.typed", "fma_serverless/client.py", "fma_serverless/fma_connect/clients.py"} <= names
    assert not any(name.startswith("tests/") for name in names)
    requires = sorted(line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist: "))
    assert [r for r in requires if "extra ==" not in r] == ["cryptography>=42", "numpy>=1.24", "requests>=2.31"]
    assert any(r.startswith("torch") and "extra == 'torch'" in r for r in requires)
    assert any(r.startswith("tensorflow") and "extra == 'tensorflow'" in r for r in requires)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    model = developer.create_model()
    script = (
        "import sys, numpy, fma_serverless, fma_serverless.fma_connect, fma_serverless.frameworks\n"
        "from fma_serverless import FmaClient\n"
        "client = FmaClient(sys.argv[1], int(sys.argv[2]))\n"
        "client.register()\n"
        "print(fma_serverless.__version__, fma_serverless.__file__, client.send_update(numpy.ones(3))['id'])\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    version, location, update = run(python, "-c", script, base_url, str(model), cwd=tmp_path, env=env).split()
    assert version == "0.1.0"
    assert Path(location).is_relative_to(venv)  # the installed wheel, not this checkout
    assert developer.updates(model)[0][0]["id"] == int(update)


def test_mypy_strict_passes_on_the_package() -> None:
    output = run(sys.executable, "-m", "mypy", "--strict", "--cache-dir=/dev/null", "src/fma_serverless")
    assert "Success: no issues found" in output
