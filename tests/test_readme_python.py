"""The README's "From Python" example runs as written, in a fresh folder."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def from_python_example() -> str:
    text = README.read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's From Python section has no python block"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    code = from_python_example()
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), scope)
    run, images = scope["run"], scope["images"]
    assert run.step > 0 and run.path.parent.resolve() == (tmp_path / "runs").resolve()
    assert images.shape == (16, 1, 32, 32)
    assert (tmp_path / "digits.png").is_file() and (tmp_path / "digits.onnx").is_file()
    assert "fd-digits" in capsys.readouterr().out
