"""The public Python API: the README's example runs as written; ``import callemo`` stays light."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from callemo.analyze.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_import_is_light_and_declares_its_api():
    code = ("import sys, callemo; print(sorted(callemo.__all__)); "
            "print([m for m in ('numpy', 'pandas', 'torch', 'sklearn') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    api = ["AnalysisOptions", "CallResult", "EmotionModel", "__version__", "analyze", "load_model"]
    assert out[0] == str(sorted(api))
    assert out[1] == "[]"


def test_readme_example_runs_as_written():
    from callemo.models.base import MODEL_CARD, default_model_dir

    if not (default_model_dir() / MODEL_CARD).exists():
        pytest.skip("the default model is not installed")
    code = _readme_example()
    assert len(code.strip().splitlines()) == 5
    code += ("\nimport json\n"
             "print('RESULT', json.dumps({'roles': sorted(set(result.segments['role'])),"
             " 'client_emotions': result.segments.query(\"role == 'client'\")['emotion'].notna().all(),"
             " 'agent_emotions': result.segments.query(\"role == 'agent'\")['emotion'].isna().all(),"
             " 'predicted': len(model.predict(result.segments.query(\"role == 'client'\"))),"
             " 'json': json.loads(result.to_json())['schema_version']}, default=bool))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert res["roles"] == ["agent", "client"]
    assert res["client_emotions"] and res["agent_emotions"]  # the default: the agent's emotions are not inferred
    assert res["predicted"] > 0 and res["json"] == SCHEMA_VERSION


def test_analyze_package_stays_callable_after_submodule_imports():
    import callemo
    import callemo.analyze.pipeline

    assert callemo.analyze is sys.modules["callemo.analyze"] and callable(callemo.analyze)
    with pytest.raises(Exception, match="sample_rate"):  # the call reaches analyze_file
        callemo.analyze(__import__("numpy").zeros(800))
