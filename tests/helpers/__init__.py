"""Helpers shared by the tests (importable as ``helpers.<module>``: pyproject's pytest
``pythonpath`` puts ``tests/`` on ``sys.path``).

* :mod:`helpers.voices`: the one speech-like signal generator (and its presets).
* :mod:`helpers.tinymodel`: a real, tiny emotion model and simple call preparations.
* :mod:`helpers.calls`: generated calls, segment tables and the example call.
* :mod:`helpers.callsynth`: a tiny two-voice utterance manifest.
"""
