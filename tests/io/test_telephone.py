"""Telephone simulation: 8 kHz, 300-3400 Hz band, mu-law, noise at a given SNR."""

from __future__ import annotations

import numpy as np

from callemo.io.telephone import TelephoneAugment, add_noise, mulaw, mulaw_decode, mulaw_encode, telephone


def _band_energy(x, sr, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return spec[(f >= lo) & (f < hi)].sum()


def test_output_rate_band_and_level():
    sr = 16000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(sr * 2)).astype(np.float32)  # white noise: flat 0-8 kHz
    y, out_sr = telephone(x, sr, codec=False)
    assert out_sr == 8000 and len(y) == 16000
    inband = _band_energy(y, 8000, 500, 3000) / 2500
    low = _band_energy(y, 8000, 0, 100) / 100
    assert low < 0.05 * inband  # below 300 Hz is cut
    assert np.abs(y).max() <= 1.0


def test_mulaw_is_8bit_and_close():
    x = np.linspace(-1, 1, 1001).astype(np.float32)
    codes = mulaw_encode(x)
    assert codes.dtype == np.uint8 and len(np.unique(codes)) <= 256
    back = mulaw_decode(codes)
    # mu-law: small step near zero, larger at the extremes; never more than ~3 % of full scale
    assert np.max(np.abs(back - x)) < 0.035
    small = np.float32(0.01)
    assert abs(mulaw(np.array([small]))[0] - small) < 0.001


def test_noise_at_requested_snr():
    rng = np.random.default_rng(1)
    x = (0.3 * np.sin(np.linspace(0, 2000, 80000))).astype(np.float32)
    y = add_noise(x, 10.0, rng)
    noise = y - x
    snr = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
    assert abs(snr - 10.0) < 0.5


def test_augment_is_reproducible_with_seed():
    x = (0.2 * np.random.default_rng(2).standard_normal(16000)).astype(np.float32)
    a, _ = TelephoneAugment(seed=3)(x, 16000)
    b, _ = TelephoneAugment(seed=3)(x, 16000)
    np.testing.assert_array_equal(a, b)
