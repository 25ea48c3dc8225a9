import numpy as np
import pytest

from _speechlike import speechlike


def _signal(sr):
    rng = np.random.default_rng(0)
    truth = [(1.0, 3.5), (5.0, 6.5), (9.0, 12.0)]
    x = np.zeros(int(14 * sr), np.float32)
    for i, (s, e) in enumerate(truth):
        v = speechlike(e - s, sr=sr, f0=(100, 150, 190)[i], tract=(0.95, 1.1, 1.15)[i], seed=i)
        x[int(s * sr) : int(s * sr) + len(v)] += v
    x += 0.002 * rng.standard_normal(len(x)).astype(np.float32)
    return x, truth


@pytest.mark.parametrize("sr", [8000, 16000, 22050])
def test_speech_regions_found(sr):
    from callemo.prep.vad import speech_regions

    x, truth = _signal(sr)
    regs = speech_regions(x, sr)
    assert len(regs) >= len(truth)
    # every true region is covered, nothing is found far outside them
    for s, e in truth:
        covered = sum(max(0.0, min(e, b) - max(s, a)) for a, b in regs)
        assert covered >= 0.8 * (e - s)
    for a, b in regs:
        assert any(a >= s - 0.3 and b <= e + 0.3 for s, e in truth)


def test_blocks_give_the_same_regions():
    from callemo.prep.vad import speech_regions

    x, _ = _signal(8000)
    whole = speech_regions(x, 8000)
    blocked = speech_regions(x, 8000, block_s=3.3)
    assert len(whole) == len(blocked)
    assert np.allclose(np.array(whole), np.array(blocked), atol=0.07)


def test_silence_and_file(tmp_path):
    from callemo.io import save_audio
    from callemo.prep.vad import speech_regions, speech_regions_file

    assert speech_regions(np.zeros(8000 * 3, np.float32), 8000) == []
    x, truth = _signal(16000)
    p = save_audio(tmp_path / "a.wav", x, 16000)
    regs = speech_regions_file(p, block_s=4.0)
    assert len(regs) >= 3
