"""``ganforge data list|info|preview`` through the real command."""

from PIL import Image

from conftest import fashion_dir, needs_fashion
from ganforge.cli import main


def test_info_digits(capsys):
    assert main(["data", "info", "digits", "--resolution", "16"]) == 0
    out = capsys.readouterr().out
    assert "1797 x 1x16x16" in out and "bundled" in out and "0 (178)" in out


def test_preview_writes_a_grid_with_a_row_per_class(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["data", "preview", "digits", "--resolution", "16", "--out", str(out)]) == 0
    with Image.open(out) as im:
        # 10 rows of 16-px images upscaled to 48 px (+2 px gaps), 8 per row, plus a label column
        assert im.height == 10 * 50 + 2 and im.width > 8 * 50
    assert "80 real digits images" in capsys.readouterr().out


def test_preview_of_a_folder_without_labels(tmp_path):
    for i in range(5):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    out = tmp_path / "f.png"
    assert main(["data", "preview", "folder", "--path", str(tmp_path), "--resolution", "8",
                 "--out", str(out)]) == 0
    assert out.is_file()


def test_list_names_every_dataset(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "fashion-mnist", "cifar10", "folder"):
        assert f"\n{name} " in "\n" + out


@needs_fashion
def test_info_real_fashion_mnist(capsys, monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA", str(fashion_dir().parent))
    assert main(["data", "info", "fashion-mnist", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "10000 x 1x28x28" in out and "Ankle boot (1000)" in out
