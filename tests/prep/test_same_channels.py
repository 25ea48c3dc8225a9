"""``_same_channels``: a 2-channel file that carries one signal twice is a mono call stored as
stereo (and is diarized); two parties on two channels are not."""

import numpy as np
import pytest

from callemo.prep.call import _same_channels
from helpers.voices import speechlike

SR = 8000


@pytest.fixture(scope="module")
def voices():
    a = speechlike(4.0, SR, f0=110.0, tract=0.95, seed=1)
    b = speechlike(4.0, SR, f0=200.0, tract=1.15, seed=2)
    return a, b


def test_the_same_signal_twice_is_one_channel(voices):
    a, _ = voices
    assert _same_channels(np.stack([a, a]))
    assert _same_channels(np.stack([a, 0.5 * a]))  # another gain on one side
    rms = float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))
    noise = np.random.default_rng(0).standard_normal(len(a)).astype(np.float32)
    assert _same_channels(np.stack([a, a + rms / 30 * noise]))  # a copy with noise 30 dB down
    assert not _same_channels(np.stack([a, a + rms / 3 * noise]))  # ... but not 10 dB down


def test_two_parties_are_two_channels(voices):
    a, b = voices
    assert not _same_channels(np.stack([a, b]))
    assert not _same_channels(np.stack([a, b + 0.3 * a]))  # strong crosstalk is still two parties
    assert not _same_channels(np.stack([a, -a]))  # a polarity-inverted copy is not taken for one channel


def test_a_silent_channel_counts_as_the_same(voices):
    a, _ = voices
    assert _same_channels(np.stack([a, np.zeros_like(a)]))  # nothing to tell apart: analysed as mono
