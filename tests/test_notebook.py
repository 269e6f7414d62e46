"""The quickstart notebook (examples/quickstart.ipynb) runs top to bottom in a real kernel, as a learner runs it."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="ipykernel not installed (pip install -e '.[dev]')")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "clear the outputs before committing"


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(pictures) >= 4  # the generator, its grid, the walk, the class rows
    assert any("step" in h and "data:image/png;base64" in h for h in html)  # the live view and the run
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and (tmp_path / "digits.onnx").is_file()
    nbformat.write(nb, tmp_path / "quickstart-run.ipynb")  # to look at


@pytest.mark.slow
def test_the_kernels_stop_button_ends_training_with_a_checkpoint_and_returns_the_run(tmp_path):
    """What Jupyter's stop button does: interrupt the kernel while a cell trains."""
    import time

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        kc.execute("import ganforge\nrun = ganforge.train(data='digits', steps=100000, quiet=True, live=False, "
                   "ckpt_every=100000)")
        deadline = time.time() + 120
        while not any(tmp_path.glob("runs/*/metrics.jsonl")) and time.time() < deadline:
            time.sleep(0.5)  # training has logged its first steps
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]  # the cell returned; nothing raised
        out = []
        kc.execute_interactive("print(run.step, run.exit_code, run.checkpoint.name, run.stopped)", timeout=60,
                               output_hook=lambda msg: out.append(msg["content"].get("text", "")))
        step, code, ckpt, *said = "".join(out).split()
        assert int(step) > 0 and code == "130" and ckpt == f"ckpt-{int(step):08d}.safetensors"
        assert f"step {step}" in " ".join(said)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
