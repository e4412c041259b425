"""examples/quickstart.ipynb runs: its code cells are executed in order in one namespace (as a kernel would)."""

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.usefixtures("one_thread")
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [("".join(c["source"]), c["id"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 5
    ns: dict = {"__name__": "__main__"}
    for source, cell_id in code:
        exec(compile(source, f"{NOTEBOOK.name}:{cell_id}", "exec"), ns)  # noqa: S102 - our own notebook
    out = tmp_path / "outputs" / "quickstart"
    assert (out / "brightness.csv").is_file()
    assert ns["strips"].summary["brightness"]["slope"] > 0  # the positive control moved brightness the right way
    for r in (ns["run"], ns["strips"], ns["study"]):
        assert (tmp_path / r.path / "report.html").is_file()
